/* Error codes shared by every webrtc2 module.
 *
 * Functions return 0 on success or a negative W2_E* code; w2_strerror() names
 * it. Protocol error codes sent to clients are a separate, named set
 * (src/signal/proto.h), because they are part of the wire contract. */
#ifndef W2_CORE_ERROR_H
#define W2_CORE_ERROR_H

enum w2_err {
	W2_OK = 0,
	W2_ENOMEM = -1,    /* allocation failed */
	W2_EINVAL = -2,    /* invalid argument or malformed input */
	W2_EIO = -3,       /* I/O or system call failed */
	W2_EAGAIN = -4,    /* try again later */
	W2_ENOENT = -5,    /* not found */
	W2_EEXIST = -6,    /* already exists */
	W2_ELIMIT = -7,    /* a configured bound was reached */
	W2_EAUTH = -8,     /* authentication failed */
	W2_EPROTO = -9,    /* protocol violation */
	W2_ECONFIG = -10,  /* bad configuration */
	W2_ECLOSED = -11,  /* the object is closing or closed */
	W2_ETLS = -12,     /* TLS failure */
	W2_ERR_MIN_ = -13
};

/* Returns a static English description of err (never NULL). */
const char *w2_strerror(int err);

#endif
