import CCurl
import CLibXML2
import Testing

@Suite("C libraries link and work")
struct CLibrariesSmokeTests {
    @Test("libcurl reports its version and features, and an easy handle takes options")
    func curl() throws {
        let info = try #require(nemo_curl_version_info())
        let version = String(cString: info.pointee.version)
        #expect(version.split(separator: ".").count == 3)
        #expect(String(cString: nemo_curl_version_string()) == version)
        #expect(info.pointee.features & Int32(CURL_VERSION_SSL) != 0, "libcurl without TLS")
        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        #expect(nemo_curl_easy_setopt_string(handle, CURLOPT_URL, "http://127.0.0.1:9/") == CURLE_OK)
        #expect(nemo_curl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 500) == CURLE_OK)
        // Port 9 (discard) on loopback refuses: a real transfer that fails cleanly.
        let result = curl_easy_perform(handle)
        #expect(result == CURLE_COULDNT_CONNECT || result == CURLE_OPERATION_TIMEDOUT)
    }

    @Test("libxml2 writes a small document with the writer API and parses it back")
    func libxml2() throws {
        let buffer = try #require(xmlBufferCreate())
        defer { xmlBufferFree(buffer) }
        let writer = try #require(xmlNewTextWriterMemory(buffer, 0))
        #expect(xmlTextWriterStartDocument(writer, "1.0", "UTF-8", nil) >= 0)
        #expect(xmlTextWriterStartElement(writer, "testsuites") >= 0)
        #expect(xmlTextWriterWriteAttribute(writer, "name", "a & <b>") >= 0)
        #expect(xmlTextWriterEndElement(writer) >= 0)
        #expect(xmlTextWriterEndDocument(writer) >= 0)
        xmlFreeTextWriter(writer)
        let text = String(cString: xmlBufferContent(buffer))
        #expect(text.contains("<testsuites name=\"a &amp; &lt;b&gt;\"/>"))

        let document = try #require(xmlReadMemory(text, Int32(text.utf8.count), "mem.xml", nil, 0))
        defer { xmlFreeDoc(document) }
        let root = try #require(xmlDocGetRootElement(document))
        #expect(String(cString: root.pointee.name) == "testsuites")
        let value = try #require(xmlGetProp(root, "name"))
        defer { nemo_xml_free(value) }
        #expect(String(cString: value) == "a & <b>")
    }
}
