/* A protected ingest (opts.protect) of 6 s of Big Buck Bunny, one small
 * rung: HLS segments that are no MP4 without the key and decode after
 * AES-128-CBC decryption (IV = media sequence number); DASH segments that
 * libavformat's mov demuxer decrypts with decryption_key and that decode
 * with no error; the manifests' key tags; no clear media and no raw key
 * anywhere in the asset; keys.json opens with the master key only. */
#include "ingest_test_support.h"

#include "kino/protection.h"

#include <libavutil/opt.h>
#include <openssl/evp.h>

#include <sys/stat.h>

/* Bytes 0..31, base64url. */
#define MASTER "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

static char root[700], media_root[800], asset[1200];
static kino_ingest_result_t *result;
static kino_protection_asset_key_t key;

static void run_once(void)
{
	kino_ingest_options_t opts;
	kino_ingest_rung_t rung = {.short_side = 240, .bitrate_kbps = 300};
	kino_error_t err = {0};
	uint8_t master[KINO_PROTECTION_MASTER_KEY_LEN];

	tenv_tmpdir(root, sizeof(root), "ingest-protect");
	snprintf(media_root, sizeof(media_root), "%s/media", root);
	kino_ingest_options_init(&opts);
	opts.input = MEDIA("bbb-480p-30s.mp4");
	opts.title = "Protected Bunny";
	opts.media_root = media_root;
	opts.ladder = &rung;
	opts.ladder_len = 1;
	opts.segment_seconds = 2;
	opts.threads = 2;
	opts.max_seconds = 6;
	opts.protect = true;
	opts.master_key = MASTER;
	CHECK_MSG(kino_ingest_run(&opts, &result, &err) == 0, "ingest: %s",
		  kino_error_message(&err));
	snprintf(asset, sizeof(asset), "%s", kino_ingest_result_asset_dir(result));
	CHECK_INT_EQ(kino_protection_master_key_load(MASTER, master, &err), 0);
	CHECK_MSG(kino_protection_keys_read(asset, master, &key, &err) == 0, "%s",
		  kino_error_message(&err));
}

static void test_protection_needs_a_master_key(void)
{
	kino_ingest_options_t opts;
	kino_ingest_result_t *r = NULL;
	kino_error_t err = {0};

	kino_ingest_options_init(&opts);
	opts.input = MEDIA("bbb-480p-30s.mp4");
	opts.media_root = media_root;
	opts.protect = true;
	CHECK_INT_EQ(kino_ingest_run(&opts, &r, &err), KINO_EINVAL);
	CHECK(r == NULL);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d;
	long n;

	CHECK_MSG(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t)n + 1);
	CHECK(d != NULL && fread(d, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return d;
}

static void spit(const char *path, const uint8_t *d, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL && fwrite(d, 1, len, f) == len);
	fclose(f);
}

static bool contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

/* Every file under dir: no raw, hex or base64url copy of the key. */
static void check_no_key_under(const char *dir, int *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char hex[33], b64[32] = "";
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	CHECK(d != NULL);
	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", key.key[i]);
	/* the first 20 characters of base64url(key) are 15 bytes' worth */
	for (int i = 0, o = 0; i < 15; i += 3) {
		uint32_t v = (uint32_t)key.key[i] << 16 | (uint32_t)key.key[i + 1] << 8 | key.key[i + 2];
		b64[o++] = tbl[v >> 18 & 63], b64[o++] = tbl[v >> 12 & 63];
		b64[o++] = tbl[v >> 6 & 63], b64[o++] = tbl[v & 63];
	}
	while ((e = readdir(d)) != NULL) {
		char path[2400];
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		CHECK(lstat(path, &st) == 0);
		if (S_ISDIR(st.st_mode)) {
			check_no_key_under(path, files);
		} else {
			size_t n;
			uint8_t *data = slurp(path, &n);
			CHECK_MSG(!contains(data, n, key.key, 16), "raw key in %s", path);
			CHECK_MSG(!contains(data, n, hex, 32), "hex key in %s", path);
			CHECK_MSG(!contains(data, n, b64, 20), "base64url key in %s", path);
			free(data);
			(*files)++;
		}
	}
	closedir(d);
}

static void test_no_clear_media_and_no_key(void)
{
	char path[1400];
	int files = 0;
	struct stat st;

	snprintf(path, sizeof(path), "%s/video", asset);
	CHECK_MSG(stat(path, &st) != 0, "clear video/ published");
	snprintf(path, sizeof(path), "%s/audio", asset);
	CHECK_MSG(stat(path, &st) != 0, "clear audio/ published");
	snprintf(path, sizeof(path), "%s/" KINO_PROTECTION_KEYS_FILE, asset);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
	check_no_key_under(asset, &files);
	CHECK(files > 10);
	/* And nothing of the job is left beside the asset. */
	CHECK_INT_EQ(dir_count(media_root, ".tmp-"), 0);
}

static void test_keys_json_needs_the_master_key(void)
{
	uint8_t other[KINO_PROTECTION_MASTER_KEY_LEN] = {1};
	kino_protection_asset_key_t k;
	kino_error_t err = {0};

	CHECK_INT_EQ(kino_protection_keys_read(asset, other, &k, &err), KINO_EFORBIDDEN);
}

/* Decodes every packet of every stream of path; counts frames and errors.
 * key_hex: the mov demuxer's decryption_key, or NULL. */
static void decode_all(const char *path, const char *key_hex, int *frames, int *errors)
{
	AVFormatContext *fmt = NULL;
	AVDictionary *o = NULL;
	AVCodecContext *dec[4] = {0};
	AVPacket *pkt = av_packet_alloc();
	AVFrame *fr = av_frame_alloc();

	*frames = *errors = 0;
	if (key_hex != NULL)
		av_dict_set(&o, "decryption_key", key_hex, 0);
	CHECK_MSG(avformat_open_input(&fmt, path, NULL, &o) == 0, "cannot open %s", path);
	av_dict_free(&o);
	CHECK(avformat_find_stream_info(fmt, NULL) >= 0 && fmt->nb_streams <= 4);
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		const AVCodec *c = avcodec_find_decoder(fmt->streams[i]->codecpar->codec_id);
		CHECK(c != NULL);
		dec[i] = avcodec_alloc_context3(c);
		CHECK(avcodec_parameters_to_context(dec[i], fmt->streams[i]->codecpar) >= 0);
		CHECK(avcodec_open2(dec[i], c, NULL) == 0);
	}
	while (av_read_frame(fmt, pkt) >= 0) {
		AVCodecContext *c = dec[pkt->stream_index];
		if (avcodec_send_packet(c, pkt) < 0)
			(*errors)++;
		while (avcodec_receive_frame(c, fr) == 0) {
			if (fr->decode_error_flags != 0)
				(*errors)++;
			(*frames)++;
		}
		av_packet_unref(pkt);
	}
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		avcodec_send_packet(dec[i], NULL);
		while (avcodec_receive_frame(dec[i], fr) == 0)
			(*frames)++;
		avcodec_free_context(&dec[i]);
	}
	av_frame_free(&fr);
	av_packet_free(&pkt);
	avformat_close_input(&fmt);
}

static uint8_t *cbc_decrypt(const uint8_t *in, size_t len, uint64_t seq, size_t *out_len)
{
	uint8_t iv[16] = {0}, *out = malloc(len + 16);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;

	for (int i = 0; i < 8; i++)
		iv[15 - i] = (uint8_t)(seq >> (8 * i));
	CHECK(EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key.key, iv) == 1);
	CHECK(EVP_DecryptUpdate(ctx, out, &n, in, (int)len) == 1);
	CHECK_MSG(EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1, "bad PKCS#7 padding");
	EVP_CIPHER_CTX_free(ctx);
	*out_len = (size_t)(n + fin);
	return out;
}

static void test_hls_segments_need_the_key(void)
{
	const char *tracks[] = {"video/240p", "audio"};
	char path[1400], init[1400], tmp[1400];
	char *text;

	snprintf(path, sizeof(path), "%s/master.m3u8", asset);
	text = tenv_read_file(path);
	CHECK_CONTAINS(text, "\nhls/video/240p/playlist.m3u8\n");
	CHECK_CONTAINS(text, "URI=\"hls/audio/playlist.m3u8\"");
	free(text);
	for (size_t t = 0; t < 2; t++) {
		int nseg;
		snprintf(path, sizeof(path), "%s/hls/%s/playlist.m3u8", asset, tracks[t]);
		text = tenv_read_file(path);
		CHECK(text != NULL);
		CHECK_CONTAINS(text, t == 0 ? "#EXT-X-MAP:URI=\"init.mp4\"\n"
					      "#EXT-X-KEY:METHOD=AES-128,URI=\"../../../key/aes128\"\n"
					    : "#EXT-X-MAP:URI=\"init.mp4\"\n"
					      "#EXT-X-KEY:METHOD=AES-128,URI=\"../../key/aes128\"\n");
		free(text);
		snprintf(path, sizeof(path), "%s/hls/%s", asset, tracks[t]);
		nseg = dir_count(path, "seg-");
		CHECK_MSG(nseg >= 3, "%d segments in %s", nseg, path);
		snprintf(init, sizeof(init), "%s/hls/%s/init.mp4", asset, tracks[t]);
		for (int i = 1; i <= nseg; i++) {
			size_t n, m;
			uint8_t *enc, *dec;
			int frames, errors;

			snprintf(path, sizeof(path), "%s/hls/%s/seg-%05d.m4s", asset, tracks[t], i);
			enc = slurp(path, &n);
			CHECK(n % 16 == 0);
			/* Not an MP4 box stream without the key. */
			CHECK(memcmp(enc + 4, "moof", 4) != 0 && memcmp(enc + 4, "styp", 4) != 0);
			CHECK(!contains(enc, n, "mdat", 4) || !contains(enc, n, "mfhd", 4));
			dec = cbc_decrypt(enc, n, (uint64_t)i, &m);
			CHECK_MSG(memcmp(dec + 4, "moof", 4) == 0, "%s: no moof after decryption", path);
			snprintf(tmp, sizeof(tmp), "%s/seg.m4s", root);
			spit(tmp, dec, m);
			snprintf(path, sizeof(path), "%s/joined.mp4", root);
			concat_files(init, tmp, path);
			decode_all(path, NULL, &frames, &errors);
			CHECK_MSG(frames > 0 && errors == 0, "%s seg %d: %d frames, %d errors",
				  tracks[t], i, frames, errors);
			free(enc);
			free(dec);
		}
	}
}

static void test_dash_is_cenc_with_clearkey(void)
{
	char path[1400], init[1400], seg[1400], kid_uuid[37], hex[33], want[200];
	const char *tracks[] = {"video/240p", "audio"};
	char *text;

	kino_protection_kid_uuid(key.kid, kid_uuid);
	snprintf(path, sizeof(path), "%s/manifest.mpd", asset);
	text = tenv_read_file(path);
	snprintf(want, sizeof(want), "<ContentProtection schemeIdUri=\"urn:mpeg:dash:"
		 "mp4protection:2011\" value=\"cenc\" cenc:default_KID=\"%s\"/>", kid_uuid);
	CHECK_CONTAINS(text, want);
	CHECK_CONTAINS(text, "schemeIdUri=\"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e\"");
	CHECK_CONTAINS(text, "<dashif:Laurl>key/clearkey</dashif:Laurl>");
	CHECK_CONTAINS(text, "xmlns:cenc=\"urn:mpeg:cenc:2013\"");
	CHECK_CONTAINS(text, "initialization=\"dash/video/240p/init.mp4\"");
	CHECK_CONTAINS(text, "initialization=\"dash/audio/init.mp4\"");
	free(text);
	snprintf(path, sizeof(path), "%s/asset.json", asset);
	text = tenv_read_file(path);
	CHECK_CONTAINS(text, kid_uuid);
	free(text);

	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", key.key[i]);
	for (size_t t = 0; t < 2; t++) {
		size_t n;
		uint8_t *d;
		int frames, errors, nseg;

		snprintf(init, sizeof(init), "%s/dash/%s/init.mp4", asset, tracks[t]);
		d = slurp(init, &n);
		CHECK(contains(d, n, t == 0 ? "encv" : "enca", 4));
		CHECK(contains(d, n, "tenc", 4) && contains(d, n, "pssh", 4));
		CHECK(contains(d, n, key.kid, 16));
		free(d);
		snprintf(path, sizeof(path), "%s/dash/%s", asset, tracks[t]);
		nseg = dir_count(path, "seg-");
		CHECK(nseg >= 3);
		for (int i = 1; i <= nseg; i++) {
			snprintf(seg, sizeof(seg), "%s/dash/%s/seg-%05d.m4s", asset, tracks[t], i);
			d = slurp(seg, &n);
			CHECK(contains(d, n, "senc", 4) && contains(d, n, "saiz", 4));
			free(d);
			snprintf(path, sizeof(path), "%s/joined.mp4", root);
			concat_files(init, seg, path);
			decode_all(path, hex, &frames, &errors);
			CHECK_MSG(frames > 0 && errors == 0, "%s seg %d: %d frames, %d errors",
				  tracks[t], i, frames, errors);
		}
	}
	/* ffprobe, as an operator would check it. */
	{
		char cmd[2000];
		snprintf(cmd, sizeof(cmd),
			 "ffmpeg -v error -decryption_key %s -i '%s/joined.mp4' -f null - 2>&1 | "
			 "grep -q . && exit 1 || exit 0", hex, root);
		CHECK_MSG(system(cmd) == 0, "ffmpeg -decryption_key reports errors");
	}
}

static void test_dash_video_without_the_key_is_garbage(void)
{
	char path[1400], init[1400], seg[1400];
	int frames, errors;

	snprintf(init, sizeof(init), "%s/dash/video/240p/init.mp4", asset);
	snprintf(seg, sizeof(seg), "%s/dash/video/240p/seg-00002.m4s", asset);
	snprintf(path, sizeof(path), "%s/joined.mp4", root);
	concat_files(init, seg, path);
	av_log_set_level(AV_LOG_QUIET);
	decode_all(path, NULL, &frames, &errors);
	av_log_set_level(AV_LOG_INFO);
	CHECK_MSG(errors > 0, "encrypted video decoded without errors (%d frames)", frames);
}

int main(void)
{
	kino_ingest_global_init();
	RUN_TEST(run_once);
	RUN_TEST(test_protection_needs_a_master_key);
	RUN_TEST(test_no_clear_media_and_no_key);
	RUN_TEST(test_keys_json_needs_the_master_key);
	RUN_TEST(test_hls_segments_need_the_key);
	RUN_TEST(test_dash_is_cenc_with_clearkey);
	RUN_TEST(test_dash_video_without_the_key_is_garbage);
	kino_protection_asset_key_wipe(&key);
	kino_ingest_result_destroy(&result);
	tenv_rmtree(root);
	return 0;
}
