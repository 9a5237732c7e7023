// The storage layer in one include, for the layers above and for tests: the
// cache file as a log of checksummed records with indexes (docs/format.md).
//
//   view.h        what one file held when read (View, Limits)
//   record_io.h   reading and verifying one record
//   reader.h      opening a file into a View (trailer, index chain, salvage)
//   trust.h       whether a file may be trusted
//   writer.h      a save: append under the lock, merge, evict, index, sync
//   rewrite.h     writing a whole new file (create, compact, repair)
//   eviction.h    the size budget's policy
//   image.h       a whole file image in memory (serialize)
//   memory_file.h reading an image with the file code
//   walk.h        every record from the start, resynchronising past damage
#pragma once

#include "storage/eviction.h"
#include "storage/format.h"
#include "storage/image.h"
#include "storage/memory_file.h"
#include "storage/reader.h"
#include "storage/record_io.h"
#include "storage/rewrite.h"
#include "storage/trust.h"
#include "storage/view.h"
#include "storage/walk.h"
#include "storage/writer.h"
