// Binds include/rtcache/maintenance.h: inspect_file() and its FileReport.
#include "bindings.h"

namespace rtcache::python {

void define_maintenance(py::module_& m) {
  py::class_<FileReport>(m, "FileReport", "What inspect_file() found in a cache file.")
      .def_readonly("format_version", &FileReport::format_version)
      .def_readonly("entries", &FileReport::entries)
      .def_readonly("live_bytes", &FileReport::live_bytes)
      .def_readonly("dead_bytes", &FileReport::dead_bytes)
      .def_readonly("file_bytes", &FileReport::file_bytes)
      .def_readonly("value_bytes", &FileReport::value_bytes)
      .def_readonly("oldest_created_ns", &FileReport::oldest_created_ns)
      .def_readonly("newest_created_ns", &FileReport::newest_created_ns)
      .def_readonly("last_compaction_ns", &FileReport::last_compaction_ns)
      .def_readonly("saves", &FileReport::saves)
      .def("__repr__", [](const FileReport& r) {
        return repr_of("FileReport", {{"entries", py::cast(r.entries)},
                                      {"file_bytes", py::cast(r.file_bytes)},
                                      {"saves", py::cast(r.saves)}});
      });
  m.def(
      "inspect_file",
      [](const FsPath& path, bool trust_others, ByteSize max_value_bytes) {
        Options options;
        options.trust_others = trust_others;
        options.max_value_bytes = max_value_bytes.value;
        FileReport report;
        check(released([&] { return inspect_file(path.value, &report, options); }));
        return report;
      },
      py::arg("path"), py::kw_only(), py::arg("trust_others") = false,
      py::arg("max_value_bytes") = ByteSize{Options().max_value_bytes},
      "Reads a cache file's index and record headers (takes no lock). NotACacheFileError for "
      "an empty or foreign file; trust_others and max_value_bytes as for RuntimeCache.");
}

}  // namespace rtcache::python
