/* The packaging transforms of protected assets, done on the bytes the mp4
 * muxer wrote: HLS AES-128 (whole-file AES-128-CBC, at the end of this
 * file) and Common Encryption ('cenc', ISO/IEC 23001-7) for DASH.
 *
 * Why not the muxer's own encryption_scheme=cenc-aes-ctr: in FFmpeg 5.1
 * (Debian 12) it does not work for fragmented files. It writes its senc,
 * saio and saiz into the empty moov's stbl instead of each traf, so the
 * fragments carry no IVs and FFmpeg's own demuxer refuses the result
 * ("saio atom found without saiz"). Kino's CMAF is simple and fixed (one
 * track per file, one moof + mdat per segment, 32-bit box sizes, default-
 * base-is-moof), so the boxes are added here instead:
 *
 *   init     stsd's sample entry avc1/mp4a -> encv/enca + sinf(frma, schm
 *            'cenc' 1.0, schi(tenc: protected, 8-byte IVs, default_KID));
 *            moov += pssh v1 of the W3C common system (1077efec-...) with
 *            the KID, the init data EME ClearKey takes ("cenc" type).
 *   segment  each sample AES-128-CTR encrypted in place with its own 8-byte
 *            IV (counter block IV || 0^64); for H.264, subsamples: length
 *            prefix, NAL header and non-VCL NAL units stay clear and only
 *            whole 16-byte blocks of slice data are encrypted (what 'cenc'
 *            packagers do for decoders that parse slice headers); traf +=
 *            saiz, saio, senc (flag 2 when subsamples); trun's data_offset
 *            grows by what was inserted, since mdat moved.
 *
 * Pure byte work plus OpenSSL; no libav. */
#include "kino/protection.h"

#include "kino/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdlib.h>
#include <string.h>

#define IV_SIZE 8
#define SINF_SIZE 80
#define PSSH_SIZE 52
#define SUBSAMPLE_CLEAR_MAX 65535u

static const uint8_t common_system_id[16] = {
	0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
	0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A growing output buffer. */
typedef struct obuf {
	uint8_t *d;
	size_t len, cap;
	bool failed;
} obuf_t;

static uint8_t *obuf_grow(obuf_t *b, size_t n)
{
	if (b->failed)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		uint8_t *d;
		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->d, cap);
		if (d == NULL) {
			b->failed = true;
			return NULL;
		}
		b->d = d;
		b->cap = cap;
	}
	b->len += n;
	return b->d + b->len - n;
}

static void obuf_put(obuf_t *b, const void *data, size_t n)
{
	uint8_t *p = obuf_grow(b, n);
	if (p != NULL)
		memcpy(p, data, n);
}

static void obuf_u32(obuf_t *b, uint32_t v)
{
	uint8_t *p = obuf_grow(b, 4);
	if (p != NULL)
		wr32(p, v);
}

static void obuf_u16(obuf_t *b, uint16_t v)
{
	uint8_t *p = obuf_grow(b, 2);
	if (p != NULL)
		wr16(p, v);
}

static void obuf_box(obuf_t *b, const char *type, uint32_t size)
{
	obuf_u32(b, size);
	obuf_put(b, type, 4);
}

/* The first child box of `type` in [start, end): its offset and size, or
 * -1 when absent or when a box header is malformed. */
static long box_find(const uint8_t *d, size_t start, size_t end, const char *type,
		     size_t *size)
{
	size_t off = start;

	while (off + 8 <= end) {
		uint32_t sz = rd32(d + off);
		if (sz < 8 || off + sz > end)
			return -1; /* 0 (to the end) and 1 (64-bit) are not Kino's */
		if (memcmp(d + off + 4, type, 4) == 0) {
			*size = sz;
			return (long)off;
		}
		off += sz;
	}
	return -1;
}

int kino_protection_cenc_init_rewrite(const kino_protection_asset_key_t *k, const uint8_t *in,
				      size_t len, uint8_t **out, size_t *out_len,
				      kino_error_t *err)
{
	static const char *path[] = {"moov", "trak", "mdia", "minf", "stbl", "stsd"};
	size_t anc[7], anc_size[7], sz = 0, hsz = 0, entry_end, moov_end;
	long off = 0, hdlr;
	obuf_t b = {0};
	uint8_t fourcc[4];
	bool audio = false;

	*out = NULL;
	for (size_t i = 0; i < 6; i++) {
		size_t start = i == 0 ? 0 : anc[i - 1] + 8, end = i == 0 ? len : anc[i - 1] + anc_size[i - 1];
		off = box_find(in, start, end, path[i], &sz);
		if (off < 0)
			return kino_error_set(err, KINO_EMEDIA, "cenc: init segment has no %s", path[i]);
		anc[i] = (size_t)off;
		anc_size[i] = sz;
		if (i == 2) {
			hdlr = box_find(in, anc[2] + 8, anc[2] + sz, "hdlr", &hsz);
			if (hdlr < 0 || hsz < 24)
				return kino_error_set(err, KINO_EMEDIA, "cenc: init segment has no hdlr");
			audio = memcmp(in + hdlr + 16, "soun", 4) == 0;
		}
	}
	/* stsd: full box header, entry_count, then the first sample entry. */
	if (anc_size[5] < 16 + 8 || rd32(in + anc[5] + 12) != 1)
		return kino_error_set(err, KINO_EMEDIA, "cenc: stsd must hold one sample entry");
	anc[6] = anc[5] + 16;
	anc_size[6] = rd32(in + anc[6]);
	if (anc_size[6] < 8 || anc[6] + anc_size[6] > anc[5] + anc_size[5])
		return kino_error_set(err, KINO_EMEDIA, "cenc: malformed sample entry");
	memcpy(fourcc, in + anc[6] + 4, 4);
	entry_end = anc[6] + anc_size[6];
	moov_end = anc[0] + anc_size[0];

	obuf_put(&b, in, entry_end);
	obuf_box(&b, "sinf", SINF_SIZE);
	obuf_box(&b, "frma", 12);
	obuf_put(&b, fourcc, 4);
	obuf_box(&b, "schm", 20);
	obuf_u32(&b, 0);           /* version 0, flags 0 */
	obuf_put(&b, "cenc", 4);
	obuf_u32(&b, 0x00010000);  /* scheme version 1.0 */
	obuf_box(&b, "schi", 40);
	obuf_box(&b, "tenc", 32);
	obuf_u32(&b, 0);           /* version 0, flags 0 */
	obuf_u16(&b, 0);           /* reserved */
	obuf_put(&b, "\x01\x08", 2); /* default_isProtected, Per_Sample_IV_Size */
	obuf_put(&b, k->kid, KINO_PROTECTION_KEY_LEN);
	obuf_put(&b, in + entry_end, moov_end - entry_end);
	obuf_box(&b, "pssh", PSSH_SIZE);
	obuf_u32(&b, 0x01000000);  /* version 1, flags 0 */
	obuf_put(&b, common_system_id, sizeof(common_system_id));
	obuf_u32(&b, 1);
	obuf_put(&b, k->kid, KINO_PROTECTION_KEY_LEN);
	obuf_u32(&b, 0);           /* no data */
	obuf_put(&b, in + moov_end, len - moov_end);
	if (b.failed) {
		free(b.d);
		return kino_error_set(err, KINO_ENOMEM, "cenc: out of memory");
	}
	/* The insertions lie at the ends of the boxes, so the ancestors'
	 * offsets hold; each grows by what went inside it. */
	for (size_t i = 0; i < 7; i++)
		wr32(b.d + anc[i], (uint32_t)(anc_size[i] + SINF_SIZE + (i == 0 ? PSSH_SIZE : 0)));
	memcpy(b.d + anc[6] + 4, audio ? "enca" : "encv", 4);
	*out = b.d;
	*out_len = b.len;
	return 0;
}

/* The samples of a track fragment, read from tfhd and trun. */
typedef struct fragment {
	size_t traf, traf_size, trun;
	uint32_t trun_flags, count;
	int32_t data_offset;
	uint32_t *sizes;
} fragment_t;

static int fragment_parse(const uint8_t *d, size_t moof, size_t moof_size, fragment_t *f,
			  kino_error_t *err)
{
	size_t tfhd_size = 0, trun_size = 0, sz = 0, p, need;
	long traf = box_find(d, moof + 8, moof + moof_size, "traf", &sz), tfhd, trun;
	uint32_t tfhd_flags, default_size = 0;

	if (traf < 0 || box_find(d, (size_t)traf + sz, moof + moof_size, "traf", &need) >= 0)
		return kino_error_set(err, KINO_EMEDIA, "cenc: a moof must hold one traf");
	f->traf = (size_t)traf;
	f->traf_size = sz;
	tfhd = box_find(d, f->traf + 8, f->traf + sz, "tfhd", &tfhd_size);
	trun = box_find(d, f->traf + 8, f->traf + sz, "trun", &trun_size);
	if (tfhd < 0 || trun < 0 || tfhd_size < 16 || trun_size < 16)
		return kino_error_set(err, KINO_EMEDIA, "cenc: traf without tfhd or trun");
	tfhd_flags = rd32(d + tfhd + 8) & 0xffffff;
	if (tfhd_flags & 0x1)
		return kino_error_set(err, KINO_EMEDIA, "cenc: explicit base data offsets");
	p = (size_t)tfhd + 16 + (tfhd_flags & 0x2 ? 4 : 0) + (tfhd_flags & 0x8 ? 4 : 0);
	if (tfhd_flags & 0x10) {
		if (p + 4 > (size_t)tfhd + tfhd_size)
			return kino_error_set(err, KINO_EMEDIA, "cenc: short tfhd");
		default_size = rd32(d + p);
	}
	f->trun = (size_t)trun;
	f->trun_flags = rd32(d + trun + 8) & 0xffffff;
	f->count = rd32(d + trun + 12);
	if (!(f->trun_flags & 0x1))
		return kino_error_set(err, KINO_EMEDIA, "cenc: trun without a data offset");
	f->data_offset = (int32_t)rd32(d + trun + 16);
	p = (size_t)trun + 20 + (f->trun_flags & 0x4 ? 4 : 0);
	{
		size_t per = 4u * (!!(f->trun_flags & 0x100) + !!(f->trun_flags & 0x200) +
				   !!(f->trun_flags & 0x400) + !!(f->trun_flags & 0x800));
		if (f->count == 0 || f->count > 1000000 || p + per * f->count > (size_t)trun + trun_size)
			return kino_error_set(err, KINO_EMEDIA, "cenc: malformed trun");
		if (!(f->trun_flags & 0x200) && default_size == 0)
			return kino_error_set(err, KINO_EMEDIA, "cenc: no sample sizes");
		f->sizes = calloc(f->count, sizeof(*f->sizes));
		if (f->sizes == NULL)
			return kino_error_set(err, KINO_ENOMEM, "cenc: out of memory");
		for (uint32_t i = 0; i < f->count; i++, p += per) {
			size_t q = p + (f->trun_flags & 0x100 ? 4 : 0);
			f->sizes[i] = f->trun_flags & 0x200 ? rd32(d + q) : default_size;
		}
	}
	return 0;
}

/* Splits clear bytes into subsample entries of at most 65535 clear bytes;
 * the last takes `prot` protected bytes. */
static void subsample_emit(obuf_t *aux, uint16_t *n, size_t clear, uint32_t prot)
{
	while (clear > SUBSAMPLE_CLEAR_MAX) {
		obuf_u16(aux, SUBSAMPLE_CLEAR_MAX);
		obuf_u32(aux, 0);
		clear -= SUBSAMPLE_CLEAR_MAX;
		(*n)++;
	}
	obuf_u16(aux, (uint16_t)clear);
	obuf_u32(aux, prot);
	(*n)++;
}

/* Encrypts one sample in place and appends its auxiliary information (IV,
 * then subsamples when nls > 0) to aux. */
static int sample_encrypt(EVP_CIPHER_CTX *ctx, const uint8_t key[16], const uint8_t iv[IV_SIZE],
			  int nls, uint8_t *s, size_t size, obuf_t *aux, kino_error_t *err)
{
	uint8_t counter[16] = {0};
	int outl;

	memcpy(counter, iv, IV_SIZE);
	if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, key, counter) != 1)
		return kino_error_set(err, KINO_EIO, "cenc: AES-CTR setup failed");
	obuf_put(aux, iv, IV_SIZE);
	if (nls == 0) {
		if (EVP_EncryptUpdate(ctx, s, &outl, s, (int)size) != 1)
			return kino_error_set(err, KINO_EIO, "cenc: AES-CTR failed");
		return 0;
	}
	{
		size_t count_at = aux->len, pos = 0, pending = 0;
		uint16_t n = 0;

		obuf_u16(aux, 0); /* subsample_count, patched below */
		while (pos < size) {
			size_t nal, total, clear;
			int type;
			if (pos + (size_t)nls + 1 > size)
				return kino_error_set(err, KINO_EMEDIA, "cenc: truncated NAL unit");
			nal = 0;
			for (int i = 0; i < nls; i++)
				nal = nal << 8 | s[pos + (size_t)i];
			total = (size_t)nls + nal;
			if (nal == 0 || total > size - pos)
				return kino_error_set(err, KINO_EMEDIA, "cenc: bad NAL unit length");
			type = s[pos + (size_t)nls] & 0x1f;
			clear = total;
			if (type >= 1 && type <= 5 && total > (size_t)nls + 1)
				clear = total - ((total - (size_t)nls - 1) / 16) * 16;
			if (clear == total) {
				pending += total;
			} else {
				uint32_t prot = (uint32_t)(total - clear);
				if (EVP_EncryptUpdate(ctx, s + pos + clear, &outl, s + pos + clear,
						      (int)prot) != 1)
					return kino_error_set(err, KINO_EIO, "cenc: AES-CTR failed");
				subsample_emit(aux, &n, pending + clear, prot);
				pending = 0;
			}
			pos += total;
		}
		if (pending > 0 || n == 0)
			subsample_emit(aux, &n, pending, 0);
		if (!aux->failed)
			wr16(aux->d + count_at, n);
	}
	return 0;
}

/* The next IV: a big-endian 64-bit increment. */
static void iv_next(uint8_t iv[IV_SIZE])
{
	for (int i = IV_SIZE - 1; i >= 0 && ++iv[i] == 0; i--)
		;
}

int kino_protection_cenc_segment_encrypt(const kino_protection_asset_key_t *k,
					 int nal_length_size, const uint8_t *in, size_t len,
					 uint8_t **out, size_t *out_len, kino_error_t *err)
{
	uint8_t *work = NULL, iv[IV_SIZE];
	obuf_t aux = {0}, b = {0};
	fragment_t f = {0};
	EVP_CIPHER_CTX *ctx = NULL;
	size_t moof_size = 0, mdat_size = 0, pos, *aux_sizes = NULL, traf_end, saiz_size,
	       senc_size, delta;
	long moof, mdat;
	uint8_t default_aux = 0;
	int ret = 0;

	*out = NULL;
	if (nal_length_size < 0 || nal_length_size > 4)
		return kino_error_set(err, KINO_EINVAL, "cenc: NAL length size %d", nal_length_size);
	moof = box_find(in, 0, len, "moof", &moof_size);
	mdat = box_find(in, 0, len, "mdat", &mdat_size);
	if (moof < 0 || mdat < 0 || mdat < moof ||
	    box_find(in, (size_t)moof + moof_size, (size_t)mdat, "moof", &pos) >= 0 ||
	    box_find(in, (size_t)mdat + mdat_size, len, "moof", &pos) >= 0) {
		ret = kino_error_set(err, KINO_EMEDIA, "cenc: a segment must be one moof + mdat");
		goto out;
	}
	ret = fragment_parse(in, (size_t)moof, moof_size, &f, err);
	if (ret < 0)
		goto out;
	work = malloc(len);
	aux_sizes = calloc(f.count, sizeof(*aux_sizes));
	ctx = EVP_CIPHER_CTX_new();
	if (work == NULL || aux_sizes == NULL || ctx == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "cenc: out of memory");
		goto out;
	}
	memcpy(work, in, len);
	if (RAND_bytes(iv, sizeof(iv)) != 1) {
		ret = kino_error_set(err, KINO_EIO, "the random number generator failed");
		goto out;
	}
	pos = (size_t)moof + (size_t)f.data_offset;
	for (uint32_t i = 0; i < f.count; i++) {
		size_t before = aux.len;
		if (f.data_offset < 0 || pos < (size_t)mdat + 8 ||
		    f.sizes[i] > (size_t)mdat + mdat_size - pos) {
			ret = kino_error_set(err, KINO_EMEDIA, "cenc: sample %u lies outside mdat", i);
			goto out;
		}
		ret = sample_encrypt(ctx, k->key, iv, nal_length_size, work + pos, f.sizes[i], &aux,
				     err);
		if (ret < 0)
			goto out;
		aux_sizes[i] = aux.len - before;
		if (aux_sizes[i] > 255) {
			ret = kino_error_set(err, KINO_EMEDIA, "cenc: sample %u has too many NAL units", i);
			goto out;
		}
		iv_next(iv);
		pos += f.sizes[i];
	}
	if (aux.failed) {
		ret = kino_error_set(err, KINO_ENOMEM, "cenc: out of memory");
		goto out;
	}
	if (nal_length_size == 0)
		default_aux = IV_SIZE;
	saiz_size = 17 + (default_aux ? 0 : f.count);
	senc_size = 16 + aux.len;
	delta = saiz_size + 20 + senc_size;
	traf_end = f.traf + f.traf_size;

	obuf_put(&b, work, traf_end);
	obuf_box(&b, "saiz", (uint32_t)saiz_size);
	obuf_u32(&b, 0);
	obuf_put(&b, &default_aux, 1);
	obuf_u32(&b, f.count);
	for (uint32_t i = 0; i < f.count && !default_aux; i++) {
		uint8_t v = (uint8_t)aux_sizes[i];
		obuf_put(&b, &v, 1);
	}
	obuf_box(&b, "saio", 20);
	obuf_u32(&b, 0);
	obuf_u32(&b, 1);
	obuf_u32(&b, (uint32_t)(traf_end - (size_t)moof + saiz_size + 20 + 16));
	obuf_box(&b, "senc", (uint32_t)senc_size);
	obuf_u32(&b, nal_length_size > 0 ? 0x2 : 0);
	obuf_u32(&b, f.count);
	obuf_put(&b, aux.d, aux.len);
	obuf_put(&b, work + traf_end, len - traf_end);
	if (b.failed) {
		ret = kino_error_set(err, KINO_ENOMEM, "cenc: out of memory");
		goto out;
	}
	wr32(b.d + moof, (uint32_t)(moof_size + delta));
	wr32(b.d + f.traf, (uint32_t)(f.traf_size + delta));
	wr32(b.d + f.trun + 16, (uint32_t)(f.data_offset + (int32_t)delta));
	*out = b.d;
	*out_len = b.len;
	b.d = NULL;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(b.d);
	free(aux.d);
	free(aux_sizes);
	free(f.sizes);
	if (work != NULL) {
		OPENSSL_cleanse(work, len);
		free(work);
	}
	return ret;
}

int kino_protection_hls_segment_encrypt(const uint8_t key[KINO_PROTECTION_KEY_LEN],
					uint64_t sequence, const uint8_t *in, size_t len,
					uint8_t **out, size_t *out_len, kino_error_t *err)
{
	uint8_t iv[16] = {0}, *buf = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, fin = 0, ret = 0;

	*out = NULL;
	if (len > (size_t)INT32_MAX - 32)
		return kino_error_set(err, KINO_ETOOBIG, "hls: segment too large");
	for (int i = 0; i < 8; i++)
		iv[15 - i] = (uint8_t)(sequence >> (8 * i));
	buf = malloc(len + 16);
	ctx = EVP_CIPHER_CTX_new();
	if (buf == NULL || ctx == NULL) {
		ret = kino_error_set(err, KINO_ENOMEM, "hls: out of memory");
		goto out;
	}
	/* EVP's CBC pads with PKCS#7 by default, as RFC 8216 asks. */
	if (EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, buf, &n, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, buf + n, &fin) != 1) {
		ret = kino_error_set(err, KINO_EIO, "hls: AES-128-CBC failed");
		goto out;
	}
	*out = buf;
	*out_len = (size_t)n + (size_t)fin;
	buf = NULL;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	return ret;
}
