/* The home screen service: GET /api/v1/home for viewers, and the
 * recommender's admin routes (status, retrain now), on top of recsys.
 *
 *   GET  /api/v1/home                  (viewer) the signed-in viewer's rows
 *   GET  /api/v1/admin/recsys          (admin) the model served, the training
 *   POST /api/v1/admin/recsys/retrain  (admin) train from plays now: 202, or
 *                                      409 while a training runs
 *
 * What a request uses is prepared off the request path by a maintenance
 * thread and swapped in whole (a "view"): the catalog snapshot (titles a
 * viewer may see, their JSON rendered once), trending scores from recent
 * plays, and the mapping between the model's items and the catalog. The
 * view is rebuilt when a title changes in this process, when a new model is
 * loaded, and every recsys.refresh. A request reads the viewer's plays,
 * takes the stored user vector or folds one in from those plays when they
 * are newer than the model, scores the catalog with one cblas_sgemv and
 * composes the rows (kino_home_compose). docs/recsys.md has the details.
 *
 * Training runs on a thread of its own (recsys.threads for ALS), from the
 * admin route or, when the schedule is on (kino up), every
 * recsys.retrain_interval; the new model file is written atomically and
 * picked up by every server that serves the same file.
 *
 * Threads: routes are KINO_HTTP_BLOCKING; any worker may run them. */
#ifndef KINO_HOME_H
#define KINO_HOME_H

#include "kino/auth.h"
#include "kino/catalog.h"
#include "kino/config.h"
#include "kino/db.h"
#include "kino/http.h"

#include <stdbool.h>
#include <stddef.h>

struct kino_error;

typedef struct kino_home kino_home_t;

#define KINO_HOME_ROUTES_MAX 3

/* db, auth, catalog and cfg are borrowed and must outlive the result. The
 * model file is cfg->recsys.model or <data_dir>/recsys/model.kals (a
 * missing file is not an error: rows are not personalized until a model
 * exists). `schedule` turns the periodic retraining on. Touches neither
 * the disk nor the database: routes may be listed without them. Returns
 * NULL with err set on failure. */
kino_home_t *kino_home_new(kino_db_t *db, kino_auth_t *auth, kino_catalog_t *catalog,
			   const kino_config_t *cfg, bool schedule, struct kino_error *err);

/* Creates the model's directory and starts the maintenance thread, which
 * builds the first view: until then GET /api/v1/home answers 503. */
int kino_home_start(kino_home_t *home, struct kino_error *err);

/* Stops the threads (waits for a training in progress to finish) and frees
 * everything. Stop the servers that use its routes first. NULL-safe. */
void kino_home_destroy(kino_home_t *home);

/* Writes at most max routes into out; returns how many. They borrow home. */
size_t kino_home_routes(kino_home_t *home, kino_http_route_t *out, size_t max);

#endif
