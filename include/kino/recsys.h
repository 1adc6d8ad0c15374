/* Recsys: implicit-feedback ALS on OpenBLAS, and the home rows built on it. */
#ifndef KINO_RECSYS_H
#define KINO_RECSYS_H

#endif
