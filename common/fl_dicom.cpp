// The GDCM shim, the only C++ in the tree: parses a DICOM instance from a
// memory buffer through a zero-copy std::streambuf, stops at Pixel Data
// without loading it, and hands back plain C structs. Every exception is
// caught here; nothing C++ crosses the extern "C" boundary.
#include "fl_dicom.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <set>
#include <streambuf>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gdcmDataSet.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

namespace {

// A read-only view of the caller's buffer as a seekable input stream buffer.
// GDCM seeks (to look for the preamble, to retry another encoding); seeks
// outside [0, len] fail instead of wandering off the buffer.
class fl_membuf : public std::streambuf {
 public:
  fl_membuf(const char *p, size_t n) {
    char *b = const_cast<char *>(p);  // never written: only get area is set
    setg(b, b, b + n);
  }

 protected:
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode which) override {
    if (!(which & std::ios_base::in))
      return pos_type(off_type(-1));
    off_type base = dir == std::ios_base::beg   ? 0
                    : dir == std::ios_base::cur ? off_type(gptr() - eback())
                                                : off_type(egptr() - eback());
    off_type pos = base + off;
    if (pos < 0 || pos > off_type(egptr() - eback()))
      return pos_type(off_type(-1));
    setg(eback(), eback() + pos, egptr());
    return pos_type(pos);
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
    return seekoff(off_type(pos), std::ios_base::beg, which);
  }
};

const gdcm::Tag kPixelData(0x7fe0, 0x0010);

struct fl_attr {
  uint16_t group, element;
  const char *name;
};

// Copies a text value without its trailing padding (spaces, NULs) and cut to
// cap-1 bytes. Returns false when the element is absent or has no value.
bool get_text(const gdcm::DataSet &ds, const fl_attr &a, char *out, size_t cap) {
  out[0] = '\0';
  gdcm::Tag t(a.group, a.element);
  if (!ds.FindDataElement(t))
    return false;
  const gdcm::ByteValue *bv = ds.GetDataElement(t).GetByteValue();
  if (!bv || !bv->GetPointer())
    return false;
  size_t n = bv->GetLength();
  const char *p = bv->GetPointer();
  n = fl_uid_trim_len(p, n);  // same padding rule: trailing NUL and space
  if (n >= cap)
    n = cap - 1;
  memcpy(out, p, n);
  out[n] = '\0';
  return true;
}

int get_uid(const gdcm::DataSet &ds, const fl_attr &a, char *out, fl_errmsg_t *em) {
  gdcm::Tag t(a.group, a.element);
  if (!ds.FindDataElement(t) || !ds.GetDataElement(t).GetByteValue())
    return fl_errf(em, FL_EDICOM, "missing %s (%04X,%04X)", a.name, a.group, a.element);
  const gdcm::ByteValue *bv = ds.GetDataElement(t).GetByteValue();
  const char *p = bv->GetPointer();
  size_t n = p ? fl_uid_trim_len(p, bv->GetLength()) : 0;
  if (n == 0)
    return fl_errf(em, FL_EDICOM, "empty %s (%04X,%04X)", a.name, a.group, a.element);
  int rc = fl_uid_check(p, n, em);
  if (rc != 0)
    return fl_errprefix(em, rc, "%s (%04X,%04X)", a.name, a.group, a.element);
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

// An IS value as int32; def when absent; -1 (and false) when not a number.
bool get_is(const gdcm::DataSet &ds, const fl_attr &a, int32_t def, int32_t *out) {
  char txt[32];
  *out = def;
  if (!get_text(ds, a, txt, sizeof txt) || txt[0] == '\0')
    return true;
  char *end;
  errno = 0;
  long v = strtol(txt, &end, 10);  // skips IS's leading spaces
  if (errno || end == txt || *end != '\0' || v < INT32_MIN || v > INT32_MAX)
    return false;
  *out = int32_t(v);
  return true;
}

uint32_t load32(const unsigned char *p, bool big) {
  return big ? uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]
             : uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

// GDCM stops right after the Pixel Data element's header without reading
// its value, so whether the value is all there is checked here, on the
// caller's bytes: a defined length must fit, an encapsulated value must be a
// run of items ending in a sequence delimiter inside the buffer.
int check_pixel_data(const unsigned char *buf, size_t len, size_t pos, bool big,
                     fl_dicom_info_t *out, fl_errmsg_t *em) {
  if (pos < 8 || pos > len)
    return fl_errf(em, FL_EDICOM, "Pixel Data header at an impossible offset %zu", pos);
  uint32_t vl = load32(buf + pos - 4, big);
  out->has_pixel_data = true;
  out->pixel_data_offset = pos;
  if (vl != 0xffffffffu) {
    if (vl > len - pos)
      return fl_errf(em, FL_EDICOM,
                     "truncated: Pixel Data (7FE0,0010) needs %u bytes at offset %zu, %zu remain",
                     vl, pos, len - pos);
    return 0;
  }
  size_t p = pos;
  for (;;) {
    if (len - p < 8)
      return fl_errf(em, FL_EDICOM,
                     "truncated: encapsulated Pixel Data ends at offset %zu without a "
                     "sequence delimiter",
                     len);
    uint32_t tag = load32(buf + p, false) << 16 | load32(buf + p, false) >> 16;
    uint32_t ilen = load32(buf + p + 4, false);
    p += 8;
    if (tag == 0xfffee0ddu)
      return 0;
    if (tag != 0xfffee000u)
      return fl_errf(em, FL_EDICOM,
                     "malformed encapsulated Pixel Data: tag (%04X,%04X) at offset %zu is not "
                     "an item",
                     unsigned(tag >> 16), unsigned(tag & 0xffff), p - 8);
    if (ilen > len - p)
      return fl_errf(em, FL_EDICOM,
                     "truncated: Pixel Data fragment at offset %zu needs %u bytes, %zu remain",
                     p - 8, ilen, len - p);
    p += ilen;
  }
}

const fl_attr kStudy = {0x0020, 0x000d, "StudyInstanceUID"};
const fl_attr kSeries = {0x0020, 0x000e, "SeriesInstanceUID"};
const fl_attr kSop = {0x0008, 0x0018, "SOPInstanceUID"};
const fl_attr kSopClass = {0x0008, 0x0016, "SOPClassUID"};
const fl_attr kTsUid = {0x0002, 0x0010, "TransferSyntaxUID"};

int parse(const unsigned char *buf, size_t len, fl_dicom_info_t *out, fl_errmsg_t *em) {
  memset(out, 0, sizeof *out);
  out->has_part10 = len >= 132 && memcmp(buf + 128, "DICM", 4) == 0;
  // GDCM reports through its own global trace streams; the caller gets the
  // error through em instead.
  gdcm::Trace::SetDebug(false);
  gdcm::Trace::SetWarning(false);
  gdcm::Trace::SetError(false);

  fl_membuf sb(reinterpret_cast<const char *>(buf), len);
  std::istream is(&sb);
  gdcm::Reader reader;
  reader.SetStream(is);
  std::set<gdcm::Tag> skip;
  skip.insert(kPixelData);
  bool ok = reader.ReadUpToTag(kPixelData, skip);
  int notdicom = out->has_part10 ? FL_EDICOM : FL_ENOTDICOM;
  if (!ok)
    return out->has_part10 ? fl_errf(em, FL_EDICOM, "truncated or malformed DICOM data set")
                           : fl_errf(em, FL_ENOTDICOM,
                                     "no DICOM preamble and not a data set GDCM can parse");

  const gdcm::File &file = reader.GetFile();
  const gdcm::DataSet &ds = file.GetDataSet();
  const gdcm::FileMetaInformation &meta = file.GetHeader();
  const gdcm::TransferSyntax ts = meta.GetDataSetTransferSyntax();

  // A dataset that carries none of the identity UIDs is not an instance at
  // all; one that carries some lacks the rest.
  const fl_attr *ids[] = {&kSop, &kStudy, &kSeries, &kSopClass};
  bool any = false;
  for (const fl_attr *a : ids)
    any = any || ds.FindDataElement(gdcm::Tag(a->group, a->element));
  if (!any)
    return fl_errf(em, notdicom, "%s: no SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID "
                                 "or SOPClassUID",
                   out->has_part10 ? "not a DICOM instance" : "not DICOM");
  int rc;
  if ((rc = get_uid(ds, kStudy, out->study_uid, em)) != 0 ||
      (rc = get_uid(ds, kSeries, out->series_uid, em)) != 0 ||
      (rc = get_uid(ds, kSop, out->sop_uid, em)) != 0 ||
      (rc = get_uid(ds, kSopClass, out->sop_class_uid, em)) != 0)
    return rc;

  if (out->has_part10) {
    if ((rc = get_uid(meta, kTsUid, out->transfer_syntax_uid, em)) != 0)
      return rc;
  } else {
    const char *s = gdcm::TransferSyntax::GetTSString(ts);
    if (!s || ts == gdcm::TransferSyntax::TS_END)
      return fl_errf(em, FL_ENOTDICOM, "not DICOM: no transfer syntax could be detected");
    snprintf(out->transfer_syntax_uid, sizeof out->transfer_syntax_uid, "%s", s);
  }

  get_text(ds, {0x0010, 0x0020, "PatientID"}, out->patient_id, sizeof out->patient_id);
  get_text(ds, {0x0010, 0x0010, "PatientName"}, out->patient_name, sizeof out->patient_name);
  get_text(ds, {0x0008, 0x0020, "StudyDate"}, out->study_date, sizeof out->study_date);
  get_text(ds, {0x0008, 0x0060, "Modality"}, out->modality, sizeof out->modality);
  get_text(ds, {0x0008, 0x0050, "AccessionNumber"}, out->accession_number,
           sizeof out->accession_number);
  if (!get_is(ds, {0x0028, 0x0008, "NumberOfFrames"}, 1, &out->number_of_frames) ||
      out->number_of_frames < 1)
    return fl_errf(em, FL_EDICOM, "NumberOfFrames (0028,0008) is not a positive integer");
  if (!get_is(ds, {0x0020, 0x0011, "SeriesNumber"}, -1, &out->series_number))
    out->series_number = -1;
  if (!get_is(ds, {0x0020, 0x0013, "InstanceNumber"}, -1, &out->instance_number))
    out->instance_number = -1;

  // The stream is still good only if GDCM stopped at Pixel Data; having read
  // to the end sets eof/fail. A deflated data set is read through an inflating
  // stream, so offsets in it are not offsets in buf: its Pixel Data length is
  // left to zlib and GDCM.
  bool deflated = ts == gdcm::TransferSyntax::DeflatedExplicitVRLittleEndian;
  if (is.good() && !deflated) {
    std::streampos p = is.tellg();
    if (p < 0)
      return fl_errf(em, FL_EINTERNAL, "stream position lost after Pixel Data");
    rc = check_pixel_data(buf, len, size_t(p), ts.GetSwapCode() == gdcm::SwapCode::BigEndian,
                          out, em);
    if (rc != 0)
      return rc;
  } else if (is.good()) {
    out->has_pixel_data = true;
  } else if (ds.FindDataElement(gdcm::Tag(0x0028, 0x0010))) {
    return fl_errf(em, FL_EDICOM,
                   "truncated: Rows (0028,0010) present but no Pixel Data (7FE0,0010)");
  }
  return 0;
}

}  // namespace

extern "C" int fl_dicom_parse(const void *buf, size_t len, fl_dicom_info_t *out,
                              fl_errmsg_t *em) {
  if (len > FL_DICOM_MAX_BYTES)
    return fl_errf(em, FL_ETOOBIG, "input of %zu bytes exceeds the %llu-byte limit", len,
                   (unsigned long long)FL_DICOM_MAX_BYTES);
  if (len == 0 || !buf)
    return fl_errf(em, FL_ENOTDICOM, "not DICOM: empty input");
  try {
    return parse(static_cast<const unsigned char *>(buf), len, out, em);
  } catch (const std::bad_alloc &) {
    return fl_errf(em, -ENOMEM, "out of memory while parsing DICOM");
  } catch (const std::exception &e) {
    bool p10 = len >= 132 && memcmp(static_cast<const char *>(buf) + 128, "DICM", 4) == 0;
    return fl_errf(em, p10 ? FL_EDICOM : FL_ENOTDICOM, "malformed DICOM: %.200s", e.what());
  } catch (...) {
    return fl_errf(em, FL_EDICOM, "malformed DICOM (unknown exception in GDCM)");
  }
}

extern "C" int fl_dicom_parse_file(const char *path, fl_dicom_info_t *out, fl_errmsg_t *em) {
  int rc = 0;
  void *map = MAP_FAILED;
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = fl_errf(em, -errno, "cannot open: %s", strerror(errno));
    goto fail;
  }
  if (fstat(fd, &st) != 0) {
    rc = fl_errf(em, -errno, "cannot stat: %s", strerror(errno));
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = fl_errf(em, FL_ENOTDICOM, "not a regular file");
    goto fail;
  }
  if (uint64_t(st.st_size) > FL_DICOM_MAX_BYTES) {
    rc = fl_errf(em, FL_ETOOBIG, "file of %lld bytes exceeds the %llu-byte limit",
                 (long long)st.st_size, (unsigned long long)FL_DICOM_MAX_BYTES);
    goto fail;
  }
  if (st.st_size == 0) {
    rc = fl_errf(em, FL_ENOTDICOM, "not DICOM: empty file");
    goto fail;
  }
  map = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    rc = fl_errf(em, -errno, "cannot map: %s", strerror(errno));
    goto fail;
  }
  rc = fl_dicom_parse(map, size_t(st.st_size), out, em);
fail:
  if (map != MAP_FAILED)
    munmap(map, size_t(st.st_size));
  if (fd >= 0)
    close(fd);
  return rc;
}
