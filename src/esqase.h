/*
 * esqase.h — declarations shared by the C files of the esqase extension.
 */
#ifndef ESQASE_H
#define ESQASE_H

/* context.c */
extern void esqase_context_init(void);

#endif							/* ESQASE_H */
