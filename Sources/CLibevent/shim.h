/* The one C header Respite reads from libevent. Only the EventLoop module imports it. */
#include <event2/event.h>
#include <event2/util.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/thread.h>

/* accept4 is a GNU extension that Glibc's module map hides without _GNU_SOURCE. */
#include <sys/socket.h>
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
#include <malloc.h>
