// xst's optional native addon (Linux): page data moved between descriptors
// by the kernel, and pipe I/O that waits on a thread instead of the event
// loop. Built by `npm install` where a compiler and Node's headers are
// found (scripts/build-native.mjs); without it xst does the same in
// JavaScript (src/io/native.ts loads it, XST_NO_NATIVE=1 turns it off).
//
// Every call that can wait runs as napi async work on libuv's thread pool,
// so the main thread stays free for signals. A pool thread never blocks in
// a system call that could wait for another process: pipes are spliced with
// SPLICE_F_NONBLOCK, reads wait in poll() before each read(), writes need
// O_NONBLOCK (setNonBlocking), and every wait also polls the call's own
// eventfd. cancelAll() signals the eventfd of every call in flight, which
// then ends with ECANCELED: a process exiting on a signal, or closing a
// stream with a read still waiting, is not held up by a thread waiting on a
// pipe nobody writes or reads (libuv joins its threads at exit).
//
//   transfer(op, fdIn, offIn, fdOut, length) -> Promise<[bytes, errno]>
//     op 0: splice()          (one side a pipe)
//     op 1: copy_file_range() (file to file)
//     offIn < 0: read at and through fdIn's own offset.
//     Stops early at the end of the input (bytes < length, errno 0).
//   read(fd, buffer, offset, length, min) -> Promise<[bytes, errno]>
//     at least `min` bytes (fewer only at the end of the input)
//   write(fd, [buffers]) -> Promise<[bytes, errno]>   all of them
//   tryRead(fd, buffer, offset, length) -> bytes, 0 at the end, -EAGAIN, -errno
//   tryWrite(fd, [buffers]) -> bytes, -EAGAIN, -errno   (both never wait: on
//     the main thread, they spare a pool round trip when the pipe is ready)
//   setPipeSize(fd, bytes) -> new size, or -errno
//   setNonBlocking(fd) -> 0, or -errno (writes and reads then never block a thread)
//   cancelAll()   every call in flight ends (ECANCELED)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_IOV 64
#define CHUNK (1 << 30)

enum { OP_SPLICE = 0, OP_COPY = 1, OP_READ = 2, OP_WRITE = 3 };

typedef struct Job Job;
struct Job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref keep; // the buffers, alive until the work is done
  int op, fd_in, fd_out, err;
  int64_t off_in, length, min, done;
  char *buf;
  struct iovec iov[MAX_IOV];
  int iovcnt;
  int cancel_fd; // eventfd: readable once the call is cancelled
  Job *next;     // calls in flight (list guarded by `lock`)
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Job *in_flight = NULL;

// Wait until `fd` is ready for `events` (or hung up, or in error); ECANCELED once the call is cancelled.
static int wait_fd(Job *j, int fd, short events) {
  struct pollfd p[2] = {{fd, events, 0}, {j->cancel_fd, POLLIN, 0}};
  for (;;) {
    int r = poll(p, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (p[1].revents) return ECANCELED;
    return 0;
  }
}

static int cancelled(Job *j) {
  struct pollfd p = {j->cancel_fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

static void run_transfer(Job *j) {
  loff_t off = j->off_in, *poff = j->off_in >= 0 ? &off : NULL;
  while (j->done < j->length) {
    if (cancelled(j)) {
      j->err = ECANCELED;
      return;
    }
    size_t want = (size_t)(j->length - j->done > CHUNK ? CHUNK : j->length - j->done);
    ssize_t n = j->op == OP_SPLICE ? splice(j->fd_in, poff, j->fd_out, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
                                   : copy_file_range(j->fd_in, poff, j->fd_out, NULL, want, 0);
    if (n > 0) {
      j->done += n;
      continue;
    }
    if (n == 0) return; // end of the input
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      j->err = errno;
      return;
    }
    // One side is not ready: wait for the input to have data, then for room in the output.
    int e = wait_fd(j, j->fd_in, POLLIN);
    if (!e) e = wait_fd(j, j->fd_out, POLLOUT);
    if (e) {
      j->err = e;
      return;
    }
  }
}

static void run_read(Job *j) {
  while (j->done < j->min) {
    // Wait first: the descriptor may be blocking (it is the caller's, left as it was).
    int e = wait_fd(j, j->fd_in, POLLIN);
    if (e) {
      j->err = e;
      return;
    }
    ssize_t n = read(j->fd_in, j->buf + j->done, (size_t)(j->length - j->done));
    if (n > 0) {
      j->done += n;
      continue;
    }
    if (n == 0) return;
    if (errno == EINTR || errno == EAGAIN) continue;
    j->err = errno;
    return;
  }
}

static void run_write(Job *j) {
  struct iovec *iov = j->iov;
  int cnt = j->iovcnt;
  while (cnt > 0) {
    ssize_t n = writev(j->fd_out, iov, cnt > IOV_MAX ? IOV_MAX : cnt);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        j->err = errno;
        return;
      }
      int e = wait_fd(j, j->fd_out, POLLOUT);
      if (e) {
        j->err = e;
        return;
      }
      continue;
    }
    j->done += n;
    while (cnt > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (char *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
}

static void execute(napi_env env, void *data) {
  (void)env;
  Job *j = data;
  if (j->op == OP_READ) run_read(j);
  else if (j->op == OP_WRITE) run_write(j);
  else run_transfer(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  pthread_mutex_lock(&lock);
  for (Job **p = &in_flight; *p; p = &(*p)->next) {
    if (*p == j) {
      *p = j->next;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  close(j->cancel_fd);
  napi_value result, v;
  napi_create_array_with_length(env, 2, &result);
  napi_create_double(env, (double)j->done, &v);
  napi_set_element(env, result, 0, v);
  napi_create_int32(env, status == napi_ok ? j->err : ECANCELED, &v);
  napi_set_element(env, result, 1, v);
  napi_resolve_deferred(env, j->deferred, result);
  if (j->keep) napi_delete_reference(env, j->keep);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value queue(napi_env env, Job *j, const char *name) {
  napi_value promise, resource_name;
  j->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (j->cancel_fd < 0) {
    if (j->keep) napi_delete_reference(env, j->keep);
    free(j);
    napi_throw_error(env, NULL, "eventfd failed");
    return NULL;
  }
  pthread_mutex_lock(&lock);
  j->next = in_flight;
  in_flight = j;
  pthread_mutex_unlock(&lock);
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static int64_t arg_int(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return (int64_t)d;
}

static napi_value transfer(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "transfer(op, fdIn, offIn, fdOut, length)");
    return NULL;
  }
  Job *j = calloc(1, sizeof *j);
  j->op = (int)arg_int(env, argv[0]) == OP_COPY ? OP_COPY : OP_SPLICE;
  j->fd_in = (int)arg_int(env, argv[1]);
  j->off_in = arg_int(env, argv[2]);
  j->fd_out = (int)arg_int(env, argv[3]);
  j->length = arg_int(env, argv[4]);
  return queue(env, j, "xst:transfer");
}

static napi_value read_fd(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  if (argc < 5 || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "read(fd, buffer, offset, length, min)");
    return NULL;
  }
  int64_t off = arg_int(env, argv[2]), n = arg_int(env, argv[3]), min = arg_int(env, argv[4]);
  if (off < 0 || n < 0 || (uint64_t)(off + n) > len) {
    napi_throw_range_error(env, NULL, "read: outside the buffer");
    return NULL;
  }
  Job *j = calloc(1, sizeof *j);
  j->op = OP_READ;
  j->fd_in = (int)arg_int(env, argv[0]);
  j->buf = (char *)data + off;
  j->length = n;
  j->min = min < 1 ? 1 : min > n ? n : min;
  napi_create_reference(env, argv[1], 1, &j->keep);
  return queue(env, j, "xst:read");
}

// The (fd, [buffers]) arguments of write and tryWrite: the non-empty
// buffers into iov (at most MAX_IOV). -1 with a JavaScript exception thrown
// when they are not that.
static int gather_iov(napi_env env, napi_callback_info info, napi_value argv[2], struct iovec iov[MAX_IOV], const char *name) {
  size_t argc = 2;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t count = 0;
  bool is_array = false;
  char msg[64];
  if (argc < 2 || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &count) != napi_ok || count > MAX_IOV) {
    snprintf(msg, sizeof msg, "%s(fd, buffers): at most 64 buffers", name);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  int cnt = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value b;
    void *data;
    size_t len;
    napi_get_element(env, argv[1], i, &b);
    if (napi_get_buffer_info(env, b, &data, &len) != napi_ok) {
      snprintf(msg, sizeof msg, "%s: not a buffer", name);
      napi_throw_type_error(env, NULL, msg);
      return -1;
    }
    if (len == 0) continue;
    iov[cnt].iov_base = data;
    iov[cnt].iov_len = len;
    cnt++;
  }
  return cnt;
}

static napi_value write_fd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct iovec iov[MAX_IOV];
  int cnt = gather_iov(env, info, argv, iov, "write");
  if (cnt < 0) return NULL;
  Job *j = calloc(1, sizeof *j);
  j->op = OP_WRITE;
  j->fd_out = (int)arg_int(env, argv[0]);
  memcpy(j->iov, iov, cnt * sizeof iov[0]);
  j->iovcnt = cnt;
  napi_create_reference(env, argv[1], 1, &j->keep);
  return queue(env, j, "xst:write");
}

// tryRead(fd, buffer, offset, length): what is there now, without waiting:
// bytes (> 0), 0 at the end of the input, -EAGAIN when nothing is ready, or -errno.
static napi_value try_read(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  if (argc < 4 || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "tryRead(fd, buffer, offset, length)");
    return NULL;
  }
  int fd = (int)arg_int(env, argv[0]);
  int64_t off = arg_int(env, argv[2]), n = arg_int(env, argv[3]);
  if (off < 0 || n < 0 || (uint64_t)(off + n) > len) {
    napi_throw_range_error(env, NULL, "tryRead: outside the buffer");
    return NULL;
  }
  struct pollfd p = {fd, POLLIN, 0};
  int64_t r;
  if (poll(&p, 1, 0) == 0) r = -EAGAIN;
  else {
    do r = read(fd, (char *)data + off, (size_t)n);
    while (r < 0 && errno == EINTR);
    if (r < 0) r = -errno;
  }
  napi_create_double(env, (double)r, &result);
  return result;
}

// tryWrite(fd, [buffers]): what the descriptor (O_NONBLOCK) takes now: bytes, -EAGAIN, or -errno.
static napi_value try_write(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  struct iovec iov[MAX_IOV];
  int cnt = gather_iov(env, info, argv, iov, "tryWrite");
  if (cnt < 0) return NULL;
  ssize_t r = 0;
  if (cnt > 0) {
    do r = writev((int)arg_int(env, argv[0]), iov, cnt);
    while (r < 0 && errno == EINTR);
    if (r < 0) r = -errno;
  }
  napi_create_double(env, (double)r, &result);
  return result;
}

static napi_value set_pipe_size(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int r = fcntl((int)arg_int(env, argv[0]), F_SETPIPE_SZ, (int)arg_int(env, argv[1]));
  napi_create_int32(env, r < 0 ? -errno : r, &result);
  return result;
}

static napi_value set_nonblocking(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd = (int)arg_int(env, argv[0]);
  int flags = fcntl(fd, F_GETFL);
  int r = flags < 0 ? -1 : (flags & O_NONBLOCK) ? 0 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  napi_create_int32(env, r < 0 ? -errno : 0, &result);
  return result;
}

static napi_value cancel_all(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  uint64_t one = 1;
  pthread_mutex_lock(&lock);
  for (Job *j = in_flight; j; j = j->next) {
    ssize_t r = write(j->cancel_fd, &one, sizeof one);
    (void)r;
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"transfer", NULL, transfer, NULL, NULL, NULL, napi_default, NULL},
    {"read", NULL, read_fd, NULL, NULL, NULL, napi_default, NULL},
    {"write", NULL, write_fd, NULL, NULL, NULL, napi_default, NULL},
    {"tryRead", NULL, try_read, NULL, NULL, NULL, napi_default, NULL},
    {"tryWrite", NULL, try_write, NULL, NULL, NULL, napi_default, NULL},
    {"setPipeSize", NULL, set_pipe_size, NULL, NULL, NULL, napi_default, NULL},
    {"setNonBlocking", NULL, set_nonblocking, NULL, NULL, NULL, napi_default, NULL},
    {"cancelAll", NULL, cancel_all, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
