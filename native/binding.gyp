{
  "targets": [
    {
      "target_name": "tandem_native",
      "sources": ["tandem_native.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
