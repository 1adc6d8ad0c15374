/* docs/openapi.yaml and the API server agree: every route that
 * `kino serve --print-routes` lists is in the document, and every path and
 * method of the document is a route. A route pattern's final "*" is the
 * document's "{path}" parameter. The document's paths are read from its
 * `paths:` block: a path at two spaces of indent, its methods at four. */
#include "check.h"
#include "testenv.h"

#include <ctype.h>
#include <stdio.h>

#define MAX_ROUTES 256

typedef struct route {
	char method[16];
	char path[256];
	bool seen;
} route_t;

static int doc_routes(route_t *out)
{
	char *text = tenv_read_file(KINO_SOURCE_DIR "/docs/openapi.yaml");
	char path[256] = "";
	bool in_paths = false;
	int n = 0;

	CHECK_MSG(text != NULL, "docs/openapi.yaml is missing");
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strcmp(line, "paths:") == 0) {
			in_paths = true;
			continue;
		}
		if (!in_paths)
			continue;
		if (line[0] != ' ' && line[0] != '#')
			break; /* the next top-level key */
		if (strncmp(line, "  /", 3) == 0 && line[strlen(line) - 1] == ':') {
			snprintf(path, sizeof(path), "%.*s", (int)strlen(line) - 3, line + 2);
			continue;
		}
		static const char *methods[] = {"get", "post", "put", "patch", "delete", "options", "head"};
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			char want[32];
			snprintf(want, sizeof(want), "    %s:", methods[m]);
			if (strncmp(line, want, strlen(want)) == 0 && path[0] != '\0') {
				CHECK(n < MAX_ROUTES);
				for (size_t i = 0; methods[m][i]; i++)
					out[n].method[i] = (char)toupper((unsigned char)methods[m][i]);
				snprintf(out[n].path, sizeof(out[n].path), "%s", path);
				n++;
			}
		}
	}
	free(text);
	return n;
}

static int server_routes(route_t *out, const char *dir)
{
	char env_data[600], *stdout_text, *stderr_text;
	int n = 0;

	snprintf(env_data, sizeof(env_data), "KINO_DATA_DIR=%s", dir);
	char *env[] = {env_data, "KINO_PLAYBACK_KEYS=k:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", NULL};
	int code = tenv_run(dir, (char *[]){KINO_BIN, "serve", "--print-routes", NULL}, env, 30000,
			    &stdout_text, &stderr_text);
	CHECK_MSG(code == 0, "kino serve --print-routes failed: %s", stderr_text);
	for (char *line = strtok(stdout_text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		CHECK(n < MAX_ROUTES);
		CHECK(sscanf(line, "%15s %255s", out[n].method, out[n].path) == 2);
		size_t len = strlen(out[n].path);
		if (len >= 2 && strcmp(out[n].path + len - 2, "/*") == 0)
			snprintf(out[n].path + len - 1, sizeof(out[n].path) - len + 1, "{path}");
		n++;
	}
	free(stdout_text);
	free(stderr_text);
	return n;
}

int main(void)
{
	static route_t doc[MAX_ROUTES], srv[MAX_ROUTES];
	char dir[512];
	int nd, ns, missing = 0;

	tenv_tmpdir(dir, sizeof(dir), "openapi");
	nd = doc_routes(doc);
	ns = server_routes(srv, dir);
	CHECK_MSG(nd > 0 && ns > 0, "no routes read (document %d, server %d)", nd, ns);
	for (int i = 0; i < ns; i++) {
		for (int j = 0; j < nd; j++) {
			if (strcmp(srv[i].method, doc[j].method) == 0 &&
			    strcmp(srv[i].path, doc[j].path) == 0) {
				srv[i].seen = doc[j].seen = true;
			}
		}
	}
	for (int i = 0; i < ns; i++)
		if (!srv[i].seen) {
			fprintf(stderr, "the server has %s %s, which docs/openapi.yaml does not list\n",
				srv[i].method, srv[i].path);
			missing++;
		}
	for (int j = 0; j < nd; j++)
		if (!doc[j].seen) {
			fprintf(stderr, "docs/openapi.yaml lists %s %s, which the server does not have\n",
				doc[j].method, doc[j].path);
			missing++;
		}
	CHECK_MSG(missing == 0, "%d disagreements between the server and docs/openapi.yaml", missing);
	fprintf(stderr, "%d routes agree\n", ns);
	tenv_rmtree(dir);
	return 0;
}
