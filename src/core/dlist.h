/* Intrusive doubly linked lists over typed prev/next fields.
 *
 * Macros rather than a node type, so that lists stay typed and iteration is
 * a plain `for (x = head; x; x = x->next)`. `head` is the list's first
 * element pointer (an lvalue); `prev`/`next` name the link fields. */
#ifndef W2_CORE_DLIST_H
#define W2_CORE_DLIST_H

#include <stddef.h>

/* Inserts node at the front of the list. */
#define W2_DLIST_PUSH(head, node, prev, next)                                  \
	do {                                                                   \
		(node)->prev = NULL;                                           \
		(node)->next = (head);                                         \
		if (head)                                                      \
			(head)->prev = (node);                                 \
		(head) = (node);                                               \
	} while (0)

/* Unlinks node, which must be in the list, and clears its links. */
#define W2_DLIST_REMOVE(head, node, prev, next)                                \
	do {                                                                   \
		if ((node)->prev)                                              \
			(node)->prev->next = (node)->next;                     \
		else                                                           \
			(head) = (node)->next;                                 \
		if ((node)->next)                                              \
			(node)->next->prev = (node)->prev;                     \
		(node)->prev = (node)->next = NULL;                            \
	} while (0)

#endif
