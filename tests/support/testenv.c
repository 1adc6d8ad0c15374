/* Test support: see testenv.h. Everything here fails the test loudly (via
 * check.h) instead of returning errors, so tests read as a list of steps. */
#include "testenv.h"

#include "check.h"
#include "kino/error.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void tenv_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void tenv_tmpdir(char *out, size_t size, const char *tag)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, size, "%s/kino-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	CHECK_MSG(mkdtemp(out) != NULL, "mkdtemp %s: %s", out, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void tenv_rmtree(const char *path)
{
	if (path != NULL && path[0] != '\0')
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tenv_free_port(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	CHECK(fd >= 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
	port = ntohs(addr.sin_port);
	close(fd);
	return port;
}

static void db_launch(tenv_db_t *db)
{
	char bin[4096];
	kino_error_t err = {0};

	if (kino_dbserver_find(NULL, KINO_SOURCE_DIR, bin, sizeof(bin), &err) != 0)
		CHECK_FAIL("MISSING DEPENDENCY: this integration test needs FerretDB: %s",
			   kino_error_message(&err));
	kino_dbserver_config_t cfg = {
		.bin = bin, .dir = db->dir, .host = "127.0.0.1", .port = db->port,
	};
	db->server = kino_dbserver_start(&cfg, 30000, &err);
	CHECK_MSG(db->server != NULL, "cannot start FerretDB for the test: %s",
		  kino_error_message(&err));
}

void tenv_db_start(tenv_db_t *db)
{
	memset(db, 0, sizeof(*db));
	tenv_tmpdir(db->dir, sizeof(db->dir), "db");
	db->port = tenv_free_port();
	db_launch(db);
	snprintf(db->uri, sizeof(db->uri), "mongodb://127.0.0.1:%d/", db->port);
}

void tenv_db_kill(tenv_db_t *db)
{
	kino_dbserver_stop(db->server);
	db->server = NULL;
}

void tenv_db_restart(tenv_db_t *db)
{
	CHECK(db->server == NULL);
	db_launch(db);
}

void tenv_db_stop(tenv_db_t *db)
{
	kino_dbserver_stop(db->server);
	db->server = NULL;
	tenv_rmtree(db->dir);
}

void tenv_proc_spawn(tenv_proc_t *p, const char *dir, char *const argv[],
		     char *const env[])
{
	static int seq;
	char **envp;
	size_t n = 0, k = 0;

	memset(p, 0, sizeof(*p));
	seq++;
	snprintf(p->out_path, sizeof(p->out_path), "%s/proc%d-%d.out", dir, (int)getpid(), seq);
	snprintf(p->err_path, sizeof(p->err_path), "%s/proc%d-%d.err", dir, (int)getpid(), seq);
	for (char **e = environ; *e; e++)
		n++;
	for (char *const *e = env; e && *e; e++)
		n++;
	envp = calloc(n + 1, sizeof(*envp));
	CHECK(envp != NULL);
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "KINO_", 5) != 0)
			envp[k++] = *e;
	for (char *const *e = env; e && *e; e++)
		envp[k++] = *e;
	envp[k] = NULL;

	pid_t parent = getpid();
	p->pid = fork();
	CHECK(p->pid >= 0);
	if (p->pid == 0) {
		/* A test that fails exits at once; its children must not outlive
		 * it (a leftover kino holds ports and CPU for the next tests). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(125);
		int out = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int in = open("/dev/null", O_RDONLY);
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		if (chdir(dir) != 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(envp);
}

bool tenv_proc_wait(tenv_proc_t *p, int timeout_ms)
{
	for (int waited = 0; !p->exited; waited += 20) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid) {
			p->exited = true;
			break;
		}
		if (waited >= timeout_ms)
			return false;
		tenv_sleep_ms(20);
	}
	return true;
}

int tenv_proc_exit_code(const tenv_proc_t *p)
{
	if (WIFEXITED(p->status))
		return WEXITSTATUS(p->status);
	return 128 + WTERMSIG(p->status);
}

char *tenv_proc_stdout(const tenv_proc_t *p)
{
	char *s = tenv_read_file(p->out_path);
	return s ? s : strdup("");
}

char *tenv_proc_stderr(const tenv_proc_t *p)
{
	char *s = tenv_read_file(p->err_path);
	return s ? s : strdup("");
}

void tenv_proc_kill(tenv_proc_t *p)
{
	if (p->pid <= 0 || p->exited)
		return;
	kill(p->pid, SIGKILL);
	tenv_proc_wait(p, 10000);
}

int tenv_run(const char *dir, char *const argv[], char *const env[],
	     int timeout_ms, char **out, char **err)
{
	tenv_proc_t p;

	tenv_proc_spawn(&p, dir, argv, env);
	if (!tenv_proc_wait(&p, timeout_ms)) {
		tenv_proc_kill(&p);
		CHECK_FAIL("'%s %s' did not finish within %d ms", argv[0],
			   argv[1] ? argv[1] : "", timeout_ms);
	}
	if (out != NULL)
		*out = tenv_proc_stdout(&p);
	if (err != NULL)
		*err = tenv_proc_stderr(&p);
	unlink(p.out_path);
	unlink(p.err_path);
	return tenv_proc_exit_code(&p);
}

typedef struct buf {
	char *data;
	size_t len;
} buf_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	buf_t *b = userdata;
	size_t n = size * nmemb;
	char *grown = realloc(b->data, b->len + n + 1);

	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int tenv_http(const char *method, const char *url, const char *body,
	      char **resp_body)
{
	return tenv_http_ex(method, url, NULL, body, resp_body);
}

int tenv_http_ex(const char *method, const char *url, const char *const *headers,
		 const char *body, char **resp_body)
{
	tenv_response_t r;
	int status;

	tenv_http_full(method, url, headers, body, &r);
	status = r.status;
	if (resp_body != NULL) {
		*resp_body = r.body;
		r.body = NULL;
	}
	tenv_response_free(&r);
	return status;
}

int tenv_http_get(const char *url, char **resp_body)
{
	return tenv_http("GET", url, NULL, resp_body);
}

char *tenv_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *grown = realloc(data, cap);
			if (grown == NULL)
				break;
			data = grown;
		}
		size_t n = fread(data + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	if (data != NULL)
		data[len] = '\0';
	return data;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	buf_t *b = userdata;
	size_t n = size * nmemb;
	char *grown = realloc(b->data, b->len + n + 1);

	if (grown == NULL)
		return 0;
	b->data = grown;
	for (size_t i = 0; i < n; i++) {
		char c = ptr[i];
		/* Lower-case the name part of each line for easy lookups. */
		bool in_name = true;
		for (size_t j = b->len; j > 0 && b->data[j - 1] != '\n'; j--)
			if (b->data[j - 1] == ':') {
				in_name = false;
				break;
			}
		b->data[b->len++] = in_name && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	b->data[b->len] = '\0';
	return n;
}

void tenv_http_full(const char *method, const char *url, const char *const *headers,
		    const char *body, tenv_response_t *out)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *list = NULL;
	buf_t b = {0}, h = {0};
	long status = 0;

	CHECK(curl != NULL);
	memset(out, 0, sizeof(*out));
	for (const char *const *p = headers; p && *p; p++)
		list = curl_slist_append(list, *p);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(list);
	out->status = (int)status;
	out->body = b.data ? b.data : strdup("");
	out->body_len = b.len;
	out->headers = h.data ? h.data : strdup("");
}

const char *tenv_response_header(const tenv_response_t *r, const char *name,
				 char *buf, size_t size)
{
	size_t n = strlen(name);

	for (const char *line = r->headers; line && *line;) {
		const char *end = strchr(line, '\n');
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			size_t len = end ? (size_t)(end - v) : strlen(v);
			while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == ' '))
				len--;
			snprintf(buf, size, "%.*s", (int)len, v);
			return buf;
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

void tenv_response_free(tenv_response_t *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

void tenv_fake_asset(const char *media_root, const char *id, double duration)
{
	char path[1200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", media_root, id);
	CHECK_MSG(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s/asset.json", media_root, id);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, "{\"version\":1,\"asset_id\":\"%s\",\"title\":\"t\",\"duration\":%.3f,"
		   "\"hls\":\"master.m3u8\",\"dash\":\"manifest.mpd\",\"video\":[],\"audio\":null}\n",
		id, duration);
	fclose(f);
}

const char *tenv_json_str(const char *text, const char *key, char *buf, size_t size)
{
	char pat[64];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = text ? strstr(text, pat) : NULL;
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	end = strchr(p, '"');
	if (end == NULL || (size_t)(end - p) >= size)
		return NULL;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return buf;
}

int tenv_api(const char *base, const char *method, const char *path, const char *token,
	     const char *body, char **resp)
{
	char url[2048], auth[160];
	const char *headers[3] = {"Content-Type: application/json", NULL, NULL};

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers[1] = auth;
	}
	return tenv_http_ex(method, url, headers, body, resp);
}

char *tenv_api_expect(const char *base, int want, const char *method, const char *path,
		      const char *token, const char *body)
{
	char *resp = NULL;
	int got = tenv_api(base, method, path, token, body, &resp);

	CHECK_MSG(got == want, "%s %s: %d, not %d: %s", method, path, got, want,
		  resp ? resp : "");
	return resp;
}

void tenv_user_new(kino_auth_t *auth, const char *email, const char *password,
		   kino_role_t role, kino_user_t *user, char *token)
{
	kino_user_t u;
	kino_error_t err = {0};

	CHECK_MSG(kino_auth_user_create(auth, email, password, role, &u, &err) == 0,
		  "creating %s: %s", email, err.message);
	CHECK_MSG(kino_auth_session_open(auth, &u, token, &err) == 0, "a session for %s: %s",
		  email, err.message);
	if (user != NULL)
		*user = u;
}
