/* Sessions checked lately, in memory (auth.session_cache): a request whose
 * session this process looked up less than that long ago is not looked up
 * again, so most requests cost no database round trip. What a process
 * changes itself (sign-out, a role) it forgets at once; a change made by
 * another server (a sign-out there, a role set there, a session revoked in
 * the database by hand) applies here within auth.session_cache at most.
 *
 * A direct-mapped table keyed by the token's SHA-256 (never the token): a
 * slot holds one session; two sessions that land on one slot take turns.
 * The digest is compared in constant time. */
#include "auth_internal.h"

#include <openssl/crypto.h>

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const char *digest)
{
	size_t h = 0;

	/* a SHA-256 is uniform already: its first hex digits will do */
	for (int i = 0; i < 8; i++)
		h = h * 16 + (size_t)(digest[i] <= '9' ? digest[i] - '0' : (digest[i] | 0x20) - 'a' + 10);
	return h % SESSION_CACHE_SLOTS;
}

void session_cache_init(session_cache_t *c, int ttl_ms)
{
	pthread_mutex_init(&c->lock, NULL);
	c->ttl_ms = ttl_ms;
	memset(c->slots, 0, sizeof(c->slots));
}

void session_cache_destroy(session_cache_t *c)
{
	explicit_bzero(c->slots, sizeof(c->slots));
	pthread_mutex_destroy(&c->lock);
}

bool session_cache_get(session_cache_t *c, const char *digest, int64_t now_ms,
		       kino_user_t *out)
{
	session_cache_slot_t *s;
	bool hit;

	if (c->ttl_ms <= 0)
		return false;
	s = &c->slots[slot_of(digest)];
	pthread_mutex_lock(&c->lock);
	hit = s->until_ms > now_ms && CRYPTO_memcmp(s->digest, digest, SHA256_HEX_LEN) == 0;
	if (hit)
		*out = s->user;
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void session_cache_put(session_cache_t *c, const char *digest, const kino_user_t *user,
		       int64_t now_ms, int64_t expires_ms)
{
	session_cache_slot_t *s;
	int64_t until = now_ms + c->ttl_ms;

	if (c->ttl_ms <= 0)
		return;
	s = &c->slots[slot_of(digest)];
	pthread_mutex_lock(&c->lock);
	memcpy(s->digest, digest, SHA256_HEX_LEN);
	s->user = *user;
	s->until_ms = until < expires_ms ? until : expires_ms;
	pthread_mutex_unlock(&c->lock);
}

void session_cache_forget(session_cache_t *c, const char *digest)
{
	session_cache_slot_t *s = &c->slots[slot_of(digest)];

	pthread_mutex_lock(&c->lock);
	if (CRYPTO_memcmp(s->digest, digest, SHA256_HEX_LEN) == 0)
		s->until_ms = 0;
	pthread_mutex_unlock(&c->lock);
}

void session_cache_forget_user(session_cache_t *c, const char *user_id)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < SESSION_CACHE_SLOTS; i++)
		if (c->slots[i].until_ms != 0 && strcmp(c->slots[i].user.id, user_id) == 0)
			c->slots[i].until_ms = 0;
	pthread_mutex_unlock(&c->lock);
}
