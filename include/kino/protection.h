/* Content protection beyond playback tokens, chosen per title: HLS with
 * AES-128 and DASH with Common Encryption ('cenc', AES-CTR), the keys of
 * protected assets, and the key service that hands them to entitled
 * playback sessions only. docs/protection.md has the layout and formats.
 *
 * Three parts:
 *
 *   keys       one random 16-byte content key and KID per protected asset,
 *              stored wrapped (AES-256-GCM under a master key) in the
 *              asset's keys.json, which the origin never serves; the
 *              master key comes from `keys.master` or from
 *              <data_dir>/keys/master.key (created 0600 on first use).
 *   packaging  the byte transforms ingest applies to CMAF files: whole-
 *              segment AES-128-CBC for HLS, CENC sample encryption plus
 *              the protection boxes (sinf/tenc, pssh, senc/saiz/saio) for
 *              DASH. Pure functions of their input, no libav.
 *   service    token-bound key routes placed before the origin's /media/ routes:
 *                GET  /media/<token>/<asset_id>/key/aes128    raw key (HLS)
 *                POST /media/<token>/<asset_id>/key/clearkey  W3C ClearKey
 *              each one a "key system" in a table (core/key_system.c), so
 *              Widevine or FairPlay can be added as entries later.
 *
 * Threads: the packaging and key functions are thread-safe. A
 * kino_protection_t is immutable after _new and its routes are BLOCKING
 * (they read keys.json and ask MongoDB whether the session is live). */
#ifndef KINO_PROTECTION_H
#define KINO_PROTECTION_H

#include "kino/http.h"
#include "kino/playback.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kino_error;
struct kino_db;

#define KINO_PROTECTION_KEY_LEN 16
#define KINO_PROTECTION_MASTER_KEY_LEN 32
/* The asset file that holds the wrapped key; refused by the origin. */
#define KINO_PROTECTION_KEYS_FILE "keys.json"

/* One asset's content key and its key id. Caller-owned; wipe it with
 * kino_protection_asset_key_wipe() when done. */
typedef struct kino_protection_asset_key {
	uint8_t kid[KINO_PROTECTION_KEY_LEN];
	uint8_t key[KINO_PROTECTION_KEY_LEN];
} kino_protection_asset_key_t;

/* ---- keys ---------------------------------------------------------------- */

/* The master key from spec_or_path: base64url (no padding) of 32 bytes, or,
 * when it contains a '/', the path of a file holding that text, created
 * with a new random key (mode 0600, its directory 0700) when missing.
 * KINO_ECONFIG for a malformed key (the message never quotes it), KINO_EIO
 * for the file. */
int kino_protection_master_key_load(const char *spec_or_path,
				    uint8_t out[KINO_PROTECTION_MASTER_KEY_LEN],
				    struct kino_error *err);

/* A new random content key and KID (RAND_bytes). */
int kino_protection_asset_key_new(kino_protection_asset_key_t *out /* OUT */,
				  struct kino_error *err);

void kino_protection_asset_key_wipe(kino_protection_asset_key_t *k);

/* Writes <asset_dir>/keys.json (mode 0600): the KID in the clear and the
 * content key wrapped with AES-256-GCM under master, the KID as AAD. */
int kino_protection_keys_write(const char *asset_dir,
			       const uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN],
			       const kino_protection_asset_key_t *k,
			       struct kino_error *err);

/* Reads and unwraps <asset_dir>/keys.json. KINO_ENOENT when the asset has
 * none (it is clear), KINO_EPARSE for a damaged file, KINO_EFORBIDDEN when
 * the master key does not open it. */
int kino_protection_keys_read(const char *asset_dir,
			      const uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN],
			      kino_protection_asset_key_t *out /* OUT */,
			      struct kino_error *err);

/* "0123abcd-...": the KID as the UUID text of cenc:default_KID (37 bytes
 * with the NUL). */
void kino_protection_kid_uuid(const uint8_t kid[KINO_PROTECTION_KEY_LEN],
			      char out[37]);

/* ---- packaging ------------------------------------------------------------
 * Each transform returns a new buffer in *out (caller frees with free()) of
 * *out_len bytes; the input is borrowed. KINO_EMEDIA for input that is not
 * the CMAF Kino's muxer writes, KINO_ENOMEM, KINO_EIO (OpenSSL). */

/* HLS METHOD=AES-128: the whole file in AES-128-CBC with PKCS#7 padding,
 * the IV being the media sequence number as a 128-bit big-endian integer
 * (RFC 8216 5.2, no IV attribute). */
int kino_protection_hls_segment_encrypt(const uint8_t key[KINO_PROTECTION_KEY_LEN],
					uint64_t sequence, const uint8_t *in,
					size_t len, uint8_t **out, size_t *out_len,
					struct kino_error *err);

/* A CMAF init segment made protected for 'cenc': its sample entry becomes
 * encv/enca with sinf (frma, schm 'cenc', tenc with the KID, 8-byte IVs),
 * and the moov gains a W3C common-system pssh naming the KID (the init
 * data browsers hand to EME ClearKey). */
int kino_protection_cenc_init_rewrite(const kino_protection_asset_key_t *k,
				      const uint8_t *in, size_t len, uint8_t **out,
				      size_t *out_len, struct kino_error *err);

/* A CMAF media segment (moof + mdat) encrypted with 'cenc' (AES-128-CTR):
 * with nal_length_size > 0 (4 for Kino's H.264) each sample's NAL units
 * are subsample-encrypted (lengths, NAL headers and non-VCL units clear,
 * whole 16-byte blocks encrypted); with 0 whole samples are (audio). Each
 * traf gains senc, saiz and saio, and trun's data offset is moved. */
int kino_protection_cenc_segment_encrypt(const kino_protection_asset_key_t *k,
					 int nal_length_size, const uint8_t *in,
					 size_t len, uint8_t **out, size_t *out_len,
					 struct kino_error *err);

/* ---- the key service ------------------------------------------------------ */

typedef struct kino_protection kino_protection_t;

/* The key service over media_root. db and keys are borrowed and must
 * outlive it; master_key_spec_or_path as for
 * kino_protection_master_key_load() (the key is read once, here). Free
 * with kino_protection_destroy(). */
kino_protection_t *kino_protection_new(struct kino_db *db,
				       const kino_playback_keyring_t *keys,
				       const char *media_root,
				       const char *master_key_spec_or_path,
				       struct kino_error *err);

/* NULL-safe; wipes the master key. */
void kino_protection_destroy(kino_protection_t *p);

/* The key routes, to be placed before the origin's routes (the first match
 * wins); returns how many it wrote into out (at most max). */
size_t kino_protection_routes(kino_protection_t *p, kino_http_route_t *out,
			      size_t max);

#endif
