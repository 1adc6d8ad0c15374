/* The conjugate-gradient update of implicit ALS (Takacs, Pilaszy and Tikk,
 * "Applications of the conjugate gradient method for implicit feedback
 * collaborative filtering", 2011).
 *
 * Instead of building and factoring the f x f matrix A of one row, a few CG
 * steps start from the row's previous vector and use A only through
 * products A p = gram p + sum (c_j - 1) (y_j . p) y_j, which cost
 * O(f^2 + n f) each. CG minimises the row's quadratic over a growing
 * Krylov space that contains the start, so the loss never rises; with f
 * steps it reaches the exact Cholesky solution. */
#include <cblas.h>

#include "recsys_internal.h"

static float dot(const float *a, const float *b, size_t f)
{
	float s = 0.0f;
	for (size_t i = 0; i < f; i++)
		s += a[i] * b[i];
	return s;
}

/* y += s x */
static void axpy(float s, const float *x, float *y, size_t f)
{
	for (size_t i = 0; i < f; i++)
		y[i] += s * x[i];
}

void recsys_cg_solve(const float *gram, const float *other,
		     const uint32_t *index, const float *strength, size_t n,
		     size_t f, float alpha, int steps, float *x, float *work)
{
	float *r = work;
	float *p = work + f;
	float *ap = work + 2 * f;
	float rs_old, rs_new;

	/* r = b - A x */
	cblas_ssymv(CblasColMajor, CblasUpper, (int)f, -1.0f, gram, (int)f, x, 1,
		    0.0f, r, 1);
	for (size_t j = 0; j < n; j++) {
		const float *y = other + (size_t)index[j] * f;
		float c = 1.0f + alpha * strength[j];
		axpy(c - (c - 1.0f) * dot(y, x, f), y, r, f);
	}
	for (size_t i = 0; i < f; i++)
		p[i] = r[i];
	rs_old = dot(r, r, f);
	for (int step = 0; step < steps && rs_old > 1e-20f; step++) {
		float pap, a;

		cblas_ssymv(CblasColMajor, CblasUpper, (int)f, 1.0f, gram,
			    (int)f, p, 1, 0.0f, ap, 1);
		for (size_t j = 0; j < n; j++) {
			const float *y = other + (size_t)index[j] * f;
			float c1 = alpha * strength[j];
			axpy(c1 * dot(y, p, f), y, ap, f);
		}
		pap = dot(p, ap, f);
		if (!(pap > 0.0f))
			break; /* p is (numerically) zero: nothing left to gain */
		a = rs_old / pap;
		axpy(a, p, x, f);
		axpy(-a, ap, r, f);
		rs_new = dot(r, r, f);
		for (size_t i = 0; i < f; i++)
			p[i] = r[i] + (rs_new / rs_old) * p[i];
		rs_old = rs_new;
	}
}
