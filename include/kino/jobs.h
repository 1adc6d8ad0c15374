/* Ingest jobs: uploads (tus 1.0) and URL sources become jobs in MongoDB,
 * which `kino worker` processes claim with leases and run through
 * kino_ingest_run(). GET /api/v1/jobs/{id} shows a job. */
#ifndef KINO_JOBS_H
#define KINO_JOBS_H

#include <stdint.h>

typedef struct kino_jobs_config {
	int lease_s;          /* jobs.lease: 60s; a worker renews it while it works */
	int max_attempts;     /* jobs.max_attempts: 3 */
	int64_t upload_max;   /* uploads.max_size: 20g */
	int64_t upload_chunk; /* uploads.max_chunk: 64m, the largest PATCH body */
	int fetch_timeout_s;  /* fetch.timeout: 30s without progress fails a URL */
} kino_jobs_config_t;

#endif
