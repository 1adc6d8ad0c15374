/* Route matching for the HTTP server, free of libwebsockets so it can be
 * tested alone. A pattern is a path whose segments are literals, "{name}"
 * (one segment, captured) or a final "*" (the rest of the path, captured as
 * "*"). The first route whose method and pattern match wins; routes are few
 * and matching is a linear scan of short strings. */
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static void params_clear(http_pair_t *params, int *nparams)
{
	for (int i = 0; i < *nparams; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	*nparams = 0;
}

bool http_pattern_match(const char *pattern, const char *path,
			http_pair_t *params, int *nparams)
{
	const char *p = pattern, *s = path;

	params_clear(params, nparams);
	while (*p != '\0') {
		if (*p != '/' || *s != '/')
			goto nomatch;
		p++;
		s++;
		if (p[0] == '*' && p[1] == '\0') {
			if (*nparams < HTTP_MAX_PARAMS) {
				params[*nparams].name = dup_n("*", 1);
				params[*nparams].value = dup_n(s, strlen(s));
				(*nparams)++;
			}
			return true;
		}
		const char *pend = strchr(p, '/');
		const char *send = strchr(s, '/');
		size_t plen = pend ? (size_t)(pend - p) : strlen(p);
		size_t slen = send ? (size_t)(send - s) : strlen(s);

		if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (slen == 0 || *nparams >= HTTP_MAX_PARAMS)
				goto nomatch;
			params[*nparams].name = dup_n(p + 1, plen - 2);
			params[*nparams].value = dup_n(s, slen);
			(*nparams)++;
		} else if (plen != slen || memcmp(p, s, plen) != 0) {
			goto nomatch;
		}
		p += plen;
		s += slen;
	}
	if (*s == '\0')
		return true;
nomatch:
	params_clear(params, nparams);
	return false;
}

const kino_http_route_t *http_route_match(const kino_http_route_t *routes,
					  size_t n, kino_http_request_t *req,
					  bool *path_matched)
{
	*path_matched = false;
	for (size_t i = 0; i < n; i++) {
		if (!http_pattern_match(routes[i].pattern, req->path,
					req->params, &req->nparams))
			continue;
		*path_matched = true;
		if (strcmp(routes[i].method, req->method) == 0)
			return &routes[i];
		if (strcmp(req->method, "HEAD") == 0 &&
		    strcmp(routes[i].method, "GET") == 0) {
			req->head = true;
			return &routes[i];
		}
	}
	params_clear(req->params, &req->nparams);
	return NULL;
}
