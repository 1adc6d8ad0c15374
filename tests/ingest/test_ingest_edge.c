/* Bad and odd input (issue 3, item 8): every edge-* clip and corrupted
 * copies of a real one either publish a whole asset or fail with a clear
 * reason; never a crash, never a partial asset, never a temporary file
 * left behind. Also a write failure mid-job and a cancellation, which
 * take the same cleanup path as a full disk. */
#include "ingest_test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[700];

typedef enum { MUST_FAIL, MUST_PASS, EITHER } expect_t;

/* Runs one job into a fresh media root and checks the invariants. Returns
 * the code; *out receives the result on success (caller destroys). */
static int ingest(const char *input, double max_seconds, expect_t expect,
		  kino_ingest_result_t **out, kino_error_t *err)
{
	static int seq;
	char media[900];
	kino_ingest_options_t opts;
	kino_ingest_result_t *r = NULL;
	int ret;

	snprintf(media, sizeof(media), "%s/media-%d", root, ++seq);
	kino_ingest_options_init(&opts);
	opts.input = input;
	opts.title = "edge";
	opts.media_root = media;
	opts.threads = 2;
	opts.max_seconds = max_seconds;
	memset(err, 0, sizeof(*err));
	ret = kino_ingest_run(&opts, &r, err);
	fprintf(stderr, "   %s: %s\n", input, ret == 0 ? "published" : kino_error_message(err));
	if (ret == 0) {
		char path[1400];
		CHECK_MSG(expect != MUST_FAIL, "%s was published", input);
		CHECK_INT_EQ(dir_count(media, NULL), 1);
		snprintf(path, sizeof(path), "%s/asset.json", kino_ingest_result_asset_dir(r));
		CHECK(file_exists(path));
		check_ffprobe_opens(kino_ingest_result_hls_path(r));
		check_ffprobe_opens(kino_ingest_result_dash_path(r));
	} else {
		CHECK_MSG(expect != MUST_PASS, "%s failed: %s", input, kino_error_message(err));
		CHECK(r == NULL);
		CHECK_MSG(strlen(err->message) > 10, "no clear reason for %s", input);
		/* Nothing published, nothing left over (the root may not exist). */
		CHECK(dir_count(media, NULL) <= 0);
	}
	CHECK(dir_count(media, ".tmp") <= 0);
	if (out != NULL)
		*out = r;
	else
		kino_ingest_result_destroy(&r);
	return ret;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, len, f) == len);
	fclose(f);
}

/* A copy of a shared clip, cut to `keep` bytes (0: whole), with `garble`
 * chunks of 4 KiB overwritten by pseudo-random bytes from offset `from`. */
static void corrupt_copy(const char *src, const char *dst, size_t keep,
			 int garble, size_t from)
{
	FILE *f = fopen(src, "rb");
	size_t len;
	unsigned char *buf;
	unsigned seed = 12345;

	CHECK(f != NULL);
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(len);
	CHECK(buf != NULL && fread(buf, 1, len, f) == len);
	fclose(f);
	if (keep > 0 && keep < len)
		len = keep;
	for (int g = 0; g < garble; g++) {
		size_t at = from + (size_t)g * (len - from) / (size_t)(garble + 1);
		for (size_t i = 0; i < 4096 && at + i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[at + i] = (unsigned char)(seed >> 16);
		}
	}
	write_bytes(dst, buf, len);
	free(buf);
}

static void test_edge_clips(void)
{
	kino_error_t err;
	kino_ingest_result_t *r = NULL;

	/* The header promises 10 s but the media data is missing. */
	CHECK_INT_EQ(ingest(MEDIA("edge-bipbop_nonfragment_header.mp4"), 0, MUST_FAIL,
			    NULL, &err), KINO_EMEDIA);
	ingest(MEDIA("edge-minimal.mp4"), 0, MUST_PASS, NULL, &err);
	ingest(MEDIA("edge-white.mp4"), 0, MUST_PASS, &r, &err);
	{
		/* No audio: no audio group, video only. */
		char *m = tenv_read_file(kino_ingest_result_hls_path(r));
		CHECK(m != NULL && strstr(m, "AUDIO=") == NULL);
		CHECK_CONTAINS(m, "RESOLUTION=320x240");
		free(m);
		kino_ingest_result_destroy(&r);
	}
}

static void test_rotation_gives_rotated_dimensions(void)
{
	kino_error_t err;
	kino_ingest_result_t *r = NULL;
	kino_ingest_probe_info_t info;
	const kino_ingest_rendition_t *v;
	char path[1400];
	AVCodecParameters *par;

	CHECK_INT_EQ(kino_ingest_probe(MEDIA("edge-video_rotation_90.mp4"), &info, &err), 0);
	CHECK_INT_EQ(info.coded_width, 100);
	CHECK_INT_EQ(info.coded_height, 60);
	CHECK(info.rotation == 90 || info.rotation == 270);
	ingest(MEDIA("edge-video_rotation_90.mp4"), 0, MUST_PASS, &r, &err);
	CHECK_INT_EQ(kino_ingest_result_rendition_count(r), 1);
	v = kino_ingest_result_rendition(r, 0);
	CHECK_INT_EQ(v->width, 60);
	CHECK_INT_EQ(v->height, 100);
	snprintf(path, sizeof(path), "%s/video/%s/init.mp4", kino_ingest_result_asset_dir(r),
		 v->name);
	par = stream_params(path);
	CHECK_INT_EQ(par->width, 60);
	CHECK_INT_EQ(par->height, 100);
	avcodec_parameters_free(&par);
	kino_ingest_result_destroy(&r);
}

static void test_not_media(void)
{
	char path[900], text[8192];
	kino_error_t err;

	memset(text, 'x', sizeof(text));
	snprintf(path, sizeof(path), "%s/notes.mp4", root);
	write_bytes(path, text, sizeof(text));
	CHECK_INT_EQ(ingest(path, 0, MUST_FAIL, NULL, &err), KINO_EMEDIA);
	CHECK_CONTAINS(err.message, "not a media file");

	snprintf(path, sizeof(path), "%s/empty.mp4", root);
	write_bytes(path, "", 0);
	CHECK_INT_EQ(ingest(path, 0, MUST_FAIL, NULL, &err), KINO_EMEDIA);

	snprintf(path, sizeof(path), "%s/missing.mp4", root);
	CHECK_INT_EQ(ingest(path, 0, MUST_FAIL, NULL, &err), KINO_ENOENT);

	CHECK_INT_EQ(ingest(root, 0, MUST_FAIL, NULL, &err), KINO_EMEDIA);
}

static void test_audio_only_has_no_video_stream(void)
{
	char path[900], cmd[2000];
	kino_error_t err;

	/* Made at test time with the ffmpeg CLI: 1 s of a sine in AAC. */
	snprintf(path, sizeof(path), "%s/tone.m4a", root);
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -v error -y -f lavfi -i sine=d=1 -c:a aac '%s'", path);
	CHECK_MSG(system(cmd) == 0, "ffmpeg cannot make %s", path);
	CHECK_INT_EQ(ingest(path, 0, MUST_FAIL, NULL, &err), KINO_EMEDIA);
	CHECK_CONTAINS(err.message, "no video stream");
}

static void test_corrupted_copies(void)
{
	static const struct {
		const char *name;
		size_t keep;
		int garble;
		size_t from;
	} cases[] = {
		{"head-64k.mp4", 65536, 0, 0},
		{"half.mp4", 2000000, 0, 0},
		{"garbled-body.mp4", 0, 24, 200000},
		{"garbled-header.mp4", 0, 1, 0},
	};
	kino_error_t err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[900];
		snprintf(path, sizeof(path), "%s/%s", root, cases[i].name);
		corrupt_copy(MEDIA("bbb-480p-30s.mp4"), path, cases[i].keep,
			     cases[i].garble, cases[i].from);
		ingest(path, 6, EITHER, NULL, &err);
		unlink(path);
	}
}

/* An MP4 with its index first (faststart) cut in half: the header
 * promises more than the file holds, so the job must fail, not publish a
 * shorter asset. */
static void test_truncated_faststart_fails(void)
{
	char full[900], half[900], cmd[2400];
	kino_error_t err;
	FILE *f;
	long len;

	snprintf(full, sizeof(full), "%s/faststart.mp4", root);
	snprintf(half, sizeof(half), "%s/faststart-half.mp4", root);
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -v error -y -i '%s' -t 10 -c copy -movflags +faststart '%s'",
		 MEDIA("bbb-480p-30s.mp4"), full);
	CHECK_MSG(system(cmd) == 0, "ffmpeg cannot make %s", full);
	f = fopen(full, "rb");
	CHECK(f != NULL);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fclose(f);
	corrupt_copy(full, half, (size_t)len / 2, 0, 0);
	CHECK_INT_EQ(ingest(half, 0, MUST_FAIL, NULL, &err), KINO_EMEDIA);
	CHECK_CONTAINS(err.message, "truncated");
}

/* A file size limit makes writes fail part-way, as a full disk would
 * (EFBIG instead of ENOSPC): the job must fail and clean up. Runs in a
 * child so the limit does not outlive the case. */
static void test_write_failure_cleans_up(void)
{
	pid_t pid = fork();
	int status = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit lim = {.rlim_cur = 150000, .rlim_max = 150000};
		kino_error_t err;
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &lim);
		int ret = ingest(MEDIA("bbb-480p-30s.mp4"), 6, MUST_FAIL, NULL, &err);
		CHECK(ret == KINO_EIO || ret == KINO_ENOSPC);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the write-failure child failed (status %d)", status);
}

static void cancel_at_a_third(const kino_ingest_progress_t *p, void *userdata)
{
	if (p->fraction > 0.3)
		atomic_store((atomic_bool *)userdata, true);
}

static void test_cancel_cleans_up(void)
{
	char media[900];
	kino_ingest_options_t opts;
	kino_ingest_result_t *r = NULL;
	kino_error_t err = {0};
	atomic_bool cancel = false;

	snprintf(media, sizeof(media), "%s/media-cancel", root);
	kino_ingest_options_init(&opts);
	opts.input = MEDIA("bbb-480p-30s.mp4");
	opts.title = "canceled";
	opts.media_root = media;
	opts.max_seconds = 8;
	opts.progress = cancel_at_a_third;
	opts.progress_userdata = &cancel;
	opts.cancel = &cancel;
	CHECK_INT_EQ(kino_ingest_run(&opts, &r, &err), KINO_ECANCELED);
	CHECK(r == NULL);
	CHECK_INT_EQ(dir_count(media, NULL), 0);
}

int main(void)
{
	kino_ingest_global_init();
	tenv_tmpdir(root, sizeof(root), "ingest-edge");
	RUN_TEST(test_edge_clips);
	RUN_TEST(test_rotation_gives_rotated_dimensions);
	RUN_TEST(test_not_media);
	RUN_TEST(test_audio_only_has_no_video_stream);
	RUN_TEST(test_corrupted_copies);
	RUN_TEST(test_truncated_faststart_fails);
	RUN_TEST(test_write_failure_cleans_up);
	RUN_TEST(test_cancel_cleans_up);
	tenv_rmtree(root);
	return 0;
}
