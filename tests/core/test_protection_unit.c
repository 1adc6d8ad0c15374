/* The content-protection module without a server: the master key (config
 * text or a 0600 file made on first use), keys.json (round trip, wrong
 * master key, a KID swapped in the file, a clear asset), the HLS AES-128
 * transform against OpenSSL's decryption, the CENC transforms refusing
 * what is not Kino's CMAF, and the key-system table with the ClearKey
 * request and licence formats. Real media goes through the transforms in
 * tests/ingest/test_ingest_protect.c. */
#include "check.h"
#include "testenv.h"

#include "protection_internal.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASTER "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

static char dir[512];

static void test_master_key(void)
{
	uint8_t a[32], b[32];
	kino_error_t err = {0};
	char path[700];
	struct stat st;

	CHECK_INT_EQ(kino_protection_master_key_load(MASTER, a, &err), 0);
	for (int i = 0; i < 32; i++)
		CHECK_INT_EQ(a[i], i);
	CHECK_INT_EQ(kino_protection_master_key_load("c2hvcnQ", a, &err), KINO_ECONFIG);
	CHECK(strstr(err.message, "c2hvcnQ") == NULL);
	CHECK_INT_EQ(kino_protection_master_key_load("", a, &err), KINO_ECONFIG);
	CHECK_INT_EQ(kino_protection_master_key_load(MASTER "=", a, &err), KINO_ECONFIG);

	snprintf(path, sizeof(path), "%s/keys/master.key", dir);
	CHECK_INT_EQ(kino_protection_master_key_load(path, a, &err), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(path, sizeof(path), "%s/keys", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/keys/master.key", dir);
	CHECK_INT_EQ(kino_protection_master_key_load(path, b, &err), 0);
	CHECK(memcmp(a, b, 32) == 0);
}

static void test_keys_json(void)
{
	uint8_t master[32], other[32] = {9};
	kino_protection_asset_key_t k, back;
	kino_error_t err = {0};
	char path[700], *text, *kid;
	FILE *f;

	CHECK_INT_EQ(kino_protection_master_key_load(MASTER, master, &err), 0);
	CHECK_INT_EQ(kino_protection_keys_read(dir, master, &back, &err), KINO_ENOENT);
	CHECK_INT_EQ(kino_protection_asset_key_new(&k, &err), 0);
	CHECK_INT_EQ(kino_protection_keys_write(dir, master, &k, &err), 0);
	CHECK_INT_EQ(kino_protection_keys_read(dir, master, &back, &err), 0);
	CHECK(memcmp(&k, &back, sizeof(k)) == 0);
	CHECK_INT_EQ(kino_protection_keys_read(dir, other, &back, &err), KINO_EFORBIDDEN);

	/* Another KID in the file: the GCM tag (KID as AAD) refuses it. */
	snprintf(path, sizeof(path), "%s/keys.json", dir);
	text = tenv_read_file(path);
	kid = strstr(text, "\"kid\":\"");
	CHECK(kid != NULL);
	kid[7] = kid[7] == '0' ? '1' : '0';
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	free(text);
	CHECK_INT_EQ(kino_protection_keys_read(dir, master, &back, &err), KINO_EFORBIDDEN);
	f = fopen(path, "w");
	fputs("{\"kid\":1}", f);
	fclose(f);
	CHECK_INT_EQ(kino_protection_keys_read(dir, master, &back, &err), KINO_EPARSE);
	unlink(path);
}

static void test_kid_uuid(void)
{
	uint8_t kid[16];
	char uuid[37];

	for (int i = 0; i < 16; i++)
		kid[i] = (uint8_t)(0xa0 + i);
	kino_protection_kid_uuid(kid, uuid);
	CHECK_STR_EQ(uuid, "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
}

static void test_hls_aes128(void)
{
	uint8_t key[16] = {1, 2, 3}, in[1000], *out = NULL, back[1100], iv[16] = {0};
	size_t out_len = 0;
	kino_error_t err = {0};
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	CHECK_INT_EQ(kino_protection_hls_segment_encrypt(key, 7, in, sizeof(in), &out, &out_len,
							 &err), 0);
	CHECK_INT_EQ((int)out_len, 1008); /* PKCS#7 to the next block */
	iv[15] = 7;                       /* the media sequence number */
	CHECK(EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv) == 1);
	CHECK(EVP_DecryptUpdate(ctx, back, &n, out, (int)out_len) == 1);
	CHECK(EVP_DecryptFinal_ex(ctx, back + n, &fin) == 1);
	CHECK_INT_EQ(n + fin, (int)sizeof(in));
	CHECK(memcmp(back, in, sizeof(in)) == 0);
	EVP_CIPHER_CTX_free(ctx);
	free(out);
}

static void test_cenc_refuses_foreign_input(void)
{
	kino_protection_asset_key_t k = {0};
	uint8_t junk[64] = {0, 0, 0, 8, 'f', 't', 'y', 'p'}, *out = (uint8_t *)1;
	uint8_t bad_size[16] = {0, 0, 0, 200, 'm', 'o', 'o', 'f'};
	size_t out_len;
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_protection_cenc_init_rewrite(&k, junk, sizeof(junk), &out, &out_len, &err),
		     KINO_EMEDIA);
	CHECK(out == NULL);
	CHECK_INT_EQ(kino_protection_cenc_segment_encrypt(&k, 4, junk, sizeof(junk), &out, &out_len,
							  &err), KINO_EMEDIA);
	CHECK_INT_EQ(kino_protection_cenc_segment_encrypt(&k, 0, bad_size, sizeof(bad_size), &out,
							  &out_len, &err), KINO_EMEDIA);
	CHECK_INT_EQ(kino_protection_cenc_segment_encrypt(&k, 7, junk, sizeof(junk), &out, &out_len,
							  &err), KINO_EINVAL);
}

static void test_key_systems(void)
{
	const key_system_t *aes = key_system_find("aes128"), *ck = key_system_find("clearkey");
	kino_protection_asset_key_t k;
	key_request_t req;
	kino_error_t err = {0};
	uint8_t *out = NULL;
	size_t len = 0;
	char body[2048];
	const char *req_kid = "AAECAwQFBgcICQoLDA0ODw"; /* bytes 0..15 */

	CHECK(aes != NULL && ck != NULL && key_system_find("widevine") == NULL);
	CHECK_INT_EQ((int)key_system_count(), 2);
	CHECK_STR_EQ(aes->method, "GET");
	CHECK_STR_EQ(ck->method, "POST");
	for (int i = 0; i < 16; i++)
		k.kid[i] = (uint8_t)i, k.key[i] = (uint8_t)(0xf0 + i);

	CHECK_INT_EQ(aes->request_parse(NULL, 0, &req, &err), 0);
	CHECK_INT_EQ(aes->license_build(&req, &k, &out, &len, &err), 0);
	CHECK(len == 16 && memcmp(out, k.key, 16) == 0);
	free(out);

	snprintf(body, sizeof(body), "{\"kids\":[\"%s\"],\"type\":\"temporary\"}", req_kid);
	CHECK_INT_EQ(ck->request_parse(body, strlen(body), &req, &err), 0);
	CHECK_INT_EQ((int)req.nkids, 1);
	CHECK_INT_EQ(ck->license_build(&req, &k, &out, &len, &err), 0);
	CHECK_STR_EQ((char *)out, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"AAECAwQFBgcICQoLDA0ODw\","
				  "\"k\":\"8PHy8_T19vf4-fr7_P3-_w\"}],\"type\":\"temporary\"}");
	free(out);
	out = NULL;

	strcpy(body, "{\"kids\":[],\"type\":\"persistent-license\"}");
	CHECK_INT_EQ(ck->request_parse(body, strlen(body), &req, &err), KINO_EUNSUPPORTED);
	strcpy(body, "{\"type\":\"temporary\"}");
	CHECK_INT_EQ(ck->request_parse(body, strlen(body), &req, &err), KINO_EPARSE);
	CHECK_INT_EQ(ck->request_parse("", 0, &req, &err), KINO_EPARSE);
	strcpy(body, "{\"kids\":[");
	for (int i = 0; i < KEY_REQUEST_KIDS_MAX + 1; i++)
		snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s\"%s\"", i ? "," : "",
			 req_kid);
	strcat(body, "]}");
	CHECK_INT_EQ(ck->request_parse(body, strlen(body), &req, &err), KINO_ETOOBIG);
}

int main(void)
{
	tenv_tmpdir(dir, sizeof(dir), "protection-unit");
	RUN_TEST(test_master_key);
	RUN_TEST(test_keys_json);
	RUN_TEST(test_kid_uuid);
	RUN_TEST(test_hls_aes128);
	RUN_TEST(test_cenc_refuses_foreign_input);
	RUN_TEST(test_key_systems);
	tenv_rmtree(dir);
	return 0;
}
