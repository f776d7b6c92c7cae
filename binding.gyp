{
  "targets": [
    {
      "target_name": "vfsnative",
      "sources": [
        "native/addon.c",
        "native/mem.c",
        "native/fd.c",
        "native/sock.c",
        "native/fs-pool.c",
        "native/fs-ops.c",
        "native/creds.c",
        "native/sandbox.c",
        "native/bus.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
