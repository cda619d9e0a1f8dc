/*
 * trim(): glibc's malloc_trim(0), which returns to the system every whole page that lies
 * free inside malloc's arenas (not only at their top, as free() does). SQLite's page caches are many
 * small allocations; once a connection closes they are free but stay resident in the arenas, and only
 * malloc_trim gives them back. Returns true if memory was released, false if not, and undefined where
 * the C library is not glibc (nothing to call).
 */
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value Trim(napi_env env, napi_callback_info info) {
  napi_value result;
#if defined(__GLIBC__)
  napi_get_boolean(env, malloc_trim(0) != 0, &result);
#else
  napi_get_undefined(env, &result);
#endif
  return result;
}

static void SetNumber(napi_env env, napi_value object, const char *name, double value) {
  napi_value number;
  napi_create_double(env, value, &number);
  napi_set_named_property(env, object, name, number);
}

/*
 * stats(): what malloc holds, from glibc's mallinfo2 (2.33 and later): bytes in use and free inside the
 * arenas, and bytes in blocks mapped on their own; undefined elsewhere. It walks every arena under its
 * lock, like trim(): read it when asked (a metrics scrape), not in a loop.
 */
static napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value result;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2();
  napi_create_object(env, &result);
  SetNumber(env, result, "inUse", (double)m.uordblks);
  SetNumber(env, result, "free", (double)m.fordblks);
  SetNumber(env, result, "mapped", (double)m.hblkhd);
#else
  napi_get_undefined(env, &result);
#endif
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  napi_create_function(env, "stats", NAPI_AUTO_LENGTH, Stats, NULL, &fn);
  napi_set_named_property(env, exports, "stats", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
