#ifndef NEMOSIM_CLIBXML2_SHIM_H
#define NEMOSIM_CLIBXML2_SHIM_H

#include <libxml/xmlversion.h>
// Debian's libxml2 is built with ICU, and its encoding header then pulls in
// the system's ICU headers, which clash with the ICU module Foundation
// brings. nemosim never touches libxml2's ICU converters, so leave them out.
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlerror.h>

// xmlFree is a global function pointer (a macro in some builds), which Swift
// cannot call reliably; this wrapper can be.
static inline void nemo_xml_free(void *pointer) {
    xmlFree(pointer);
}

/// The version string of the libxml2 the process is linked against.
static inline const char *nemo_xml_version_string(void) {
    return xmlParserVersion;
}

#endif
