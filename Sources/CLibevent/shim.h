/* The one C header Respite reads from libevent. Only the EventLoop module imports it. */

/* libevent's event-config.h defines _GNU_SOURCE. Reading glibc's <features.h> first fixes the
   feature set as the Swift Glibc module sees it; otherwise fd_set and friends are defined one
   way here and another way there, and a clean build fails with "not present in definition". */
#include <features.h>
#include <event2/event.h>
#include <event2/util.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/thread.h>

/* mallopt is not exported by the Swift Glibc module; declared here without <malloc.h>, whose
   types would clash with it. (accept4 comes in through libevent's own includes.) */
extern int mallopt(int param, int value);
extern int malloc_trim(unsigned long pad);
#define RESPITE_M_TRIM_THRESHOLD (-1)
#define RESPITE_M_TOP_PAD (-2)
