import Testing
@testable import RecordsS3

/// The S3 client's parts that need no server: they always run.
@Suite struct S3SigningTests {
    static let aws = S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

    /// AWS's documented example "GET Object" (Signature Version 4, header-based auth, examplebucket, Range
    /// bytes=0-9, 2013-05-24): the exact Authorization header AWS publishes.
    @Test func getObjectMatchesAWSExample() {
        let signer = SigV4Signer(credentials: Self.aws, region: "us-east-1")
        let added = signer.sign(method: "GET", path: "/test.txt", query: [],
                                headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
                                payloadSHA256: SigV4Signer.emptySHA256, amzDate: "20130524T000000Z")
        let auth = added.first { $0.0 == "authorization" }?.1
        #expect(auth == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    /// AWS's "PUT Object" example: a signed body hash, a `$` in the key (percent-encoded) and an extra amz header.
    @Test func putObjectMatchesAWSExample() {
        let signer = SigV4Signer(credentials: Self.aws, region: "us-east-1")
        let body = Array("Welcome to Amazon S3.".utf8)
        let sha = SigV4Signer.sha256Hex(body)
        #expect(sha == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let added = signer.sign(method: "PUT", path: "/" + S3Path.encode("test$file.text", encodeSlash: false), query: [],
                                headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                                          ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                payloadSHA256: sha, amzDate: "20130524T000000Z")
        #expect(added.first { $0.0 == "authorization" }?.1.hasSuffix(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)
    }

    /// AWS's "GET Bucket Lifecycle" and "Get Bucket (List Objects)" examples: sub-resources and sorted query parameters.
    @Test func queryParametersMatchAWSExamples() {
        let signer = SigV4Signer(credentials: Self.aws, region: "us-east-1")
        let host = [("Host", "examplebucket.s3.amazonaws.com")]
        let lifecycle = signer.sign(method: "GET", path: "/", query: [("lifecycle", "")], headers: host,
                                    payloadSHA256: SigV4Signer.emptySHA256, amzDate: "20130524T000000Z")
        #expect(lifecycle.first { $0.0 == "authorization" }?.1.hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") == true)
        let list = signer.sign(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: host,
                               payloadSHA256: SigV4Signer.emptySHA256, amzDate: "20130524T000000Z")
        #expect(list.first { $0.0 == "authorization" }?.1.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test func aSessionTokenIsSigned() {
        var c = Self.aws
        c.sessionToken = "TOKEN"
        let added = SigV4Signer(credentials: c, region: "us-east-1").sign(method: "GET", path: "/", query: [], headers: [("host", "h")],
                                                                          payloadSHA256: SigV4Signer.emptySHA256, amzDate: "20130524T000000Z")
        #expect(added.contains { $0 == ("x-amz-security-token", "TOKEN") })
        #expect(added.first { $0.0 == "authorization" }?.1.contains("x-amz-security-token") == true)
    }

    @Test func datesRoundTrip() {
        #expect(SigV4Signer.amzDate(unixSeconds: 1_369_353_600) == "20130524T000000Z")
        #expect(CivilTime.iso(unixSeconds: 951_782_400) == "2000-02-29T00:00:00Z")
        #expect(CivilTime.parseISO("2000-02-29T00:00:00Z") == 951_782_400)
        #expect(CivilTime.parseISO("2026-12-30T01:02:03.123Z") == CivilTime.unixSeconds(year: 2026, month: 12, day: 30, hour: 1, minute: 2, second: 3))
        for bad in ["", "2026-12-30", "2026-13-30T01:02:03Z", "2026-12-30T01:02:03", "2026-12-30T01:02:03.Z", "x026-12-30T01:02:03Z", "2026-12-30T01:02:03.1a2Z"] {
            #expect(CivilTime.parseISO(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct S3LocationTests {
    @Test func parsesTheDocumentedForm() throws {
        let l = try S3Location.parse("s3://evidence-1?endpoint=http://127.0.0.1:7480")
        #expect(l == S3Location(bucket: "evidence-1", scheme: "http", host: "127.0.0.1", port: 7480, region: "us-east-1"))
        #expect(l.hostHeader == "127.0.0.1:7480")
        let r = try S3Location.parse("s3://evidence-1/?region=eu-west-2&endpoint=https%3A%2F%2Fs3.example.org")
        #expect(r == S3Location(bucket: "evidence-1", scheme: "https", host: "s3.example.org", port: 443, region: "eu-west-2"))
        #expect(r.hostHeader == "s3.example.org")
        #expect(try S3Location.parse("s3://abc?endpoint=http://[::1]:9000").endpoint == "http://[::1]:9000")
    }

    @Test func refusesEverythingElse() {
        let bad = [
            "", "s3:/b?endpoint=http://h", "http://bucket?endpoint=http://h", "s3://bucket", "s3://bucket?endpoint=ftp://h",
            "s3://KEY:SECRET@bucket?endpoint=http://h", "s3://bucket?endpoint=http://key:secret@h:1", "s3://bucket/path?endpoint=http://h",
            "s3://Bucket?endpoint=http://h", "s3://ab?endpoint=http://h", "s3://-abc?endpoint=http://h", "s3://a..b?endpoint=http://h",
            "s3://bucket?endpoint=http://h:0", "s3://bucket?endpoint=http://h:65536", "s3://bucket?endpoint=http://h:12a",
            "s3://bucket?endpoint=http://h/path", "s3://bucket?endpoint=http://h&endpoint=http://g", "s3://bucket?endpoint=http://h&x=1",
            "s3://bucket?endpoint=http://h&region=", "s3://bucket?endpoint=http://h&region=EU", "s3://bucket?endpoint=http://h%0a",
            "s3://bucket?endpoint=http://h%zz", "s3://bucket?endpoint", "s3://bucket?endpoint=http://h#frag", "s3://bucket?endpoint=http://",
            "s3://bucket?endpoint=http://[::1", "s3://bucket?endpoint=http://h h", "s3://" + String(repeating: "a", count: 64) + "?endpoint=http://h",
            "s3://bucket?endpoint=http://" + String(repeating: "a", count: 3000),
        ]
        for url in bad {
            #expect(throws: S3Location.Invalid.self, "\(url.prefix(80))") { try S3Location.parse(url) }
        }
    }

    @Test func credentialsInTheURLAreRefusedWithAReason() {
        do {
            _ = try S3Location.parse("s3://AKIA:secret@bucket?endpoint=http://h")
            Issue.record("accepted credentials in the URL")
        } catch {
            #expect(error.description.contains("AWS_ACCESS_KEY_ID"))
        }
    }
}

@Suite struct S3CredentialsTests {
    @Test func environmentFirstThenTheSharedFile() throws {
        let env = try S3Credentials.load(environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T"])
        #expect(env == S3Credentials(accessKey: "A", secretKey: "S", sessionToken: "T"))
        #expect(throws: S3Credentials.Missing.self) { try S3Credentials.load(environment: ["AWS_ACCESS_KEY_ID": "A"]) }
        #expect(throws: S3Credentials.Missing.self) {
            try S3Credentials.load(environment: ["AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials"])
        }
        let ini = "# comment\n[default]\naws_access_key_id = D1\naws_secret_access_key=D2\n\n[ prod ]\r\n aws_access_key_id = P1 \r\n; c\r\naws_secret_access_key = P2\r\naws_session_token = P3\r\n"
        #expect(S3Credentials.parseINI(ini, profile: "default") == S3Credentials(accessKey: "D1", secretKey: "D2"))
        #expect(S3Credentials.parseINI(ini, profile: "prod") == S3Credentials(accessKey: "P1", secretKey: "P2", sessionToken: "P3"))
        #expect(S3Credentials.parseINI(ini, profile: "other") == nil)
        #expect(S3Credentials.parseINI("[default]\naws_access_key_id = only\n", profile: "default") == nil)
        #expect(S3Credentials.parseINI("garbage \u{0} [[[ = =\n", profile: "default") == nil)
    }
}

@Suite struct S3XMLTests {
    @Test func readsS3Answers() throws {
        let error = try S3XML.parse(Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>AccessDenied</Code><Message>a &lt;b&gt; &amp; &#233;&#x41;</Message><Resource/></Error>
            """.utf8))
        #expect(error.name == "Error" && error.value("Code") == "AccessDenied" && error.value("Message") == "a <b> & éA")
        let list = try S3XML.parse(Array("""
            <ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><!-- c --><Part><PartNumber>1</PartNumber>
            <ETag>&quot;abc&quot;</ETag><Size>5</Size></Part><Part><PartNumber>2</PartNumber><ETag><![CDATA["d<e"]]></ETag></Part>
            <s3:IsTruncated a='>' b="x">false</s3:IsTruncated></ListPartsResult>
            """.utf8))
        #expect(list.all("Part").count == 2)
        #expect(list.all("Part")[0].value("ETag") == "\"abc\"")
        #expect(list.all("Part")[1].value("ETag") == "\"d<e\"")
        #expect(list.value("IsTruncated") == "false")
        #expect(S3Client.errorDetail(Array("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>".utf8)) == ("NoSuchKey", "gone"))
        #expect(S3Client.errorDetail(Array("<html>proxy\nerror</html>".utf8)).0 == "(not an S3 error document)")
    }

    /// Random damage to real answers (bytes flipped, cut, duplicated): parsed or refused, never a trap.
    @Test func survivesRandomDamage() {
        let samples = [
            "<?xml version=\"1.0\"?><ListMultipartUploadsResult><Upload><Key>blobs/ab</Key><UploadId>2~x</UploadId><Initiated>2026-11-29T01:02:03.000Z</Initiated></Upload><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>",
            "<Error><Code>AccessDenied</Code><Message>a &amp; &#x41; <![CDATA[<b>]]></Message></Error>",
        ].map { Array($0.utf8) }
        var rng = SystemRandomNumberGenerator()
        var parsed = 0
        for i in 0..<20_000 {
            var doc = samples[i % samples.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<doc.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: doc[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: doc.removeSubrange(at...)
                case 2: doc.insert(contentsOf: doc[at...].prefix(20), at: at)
                default: doc[at] = Array("<>&;/![]\"'".utf8).randomElement(using: &rng)!
                }
                if doc.isEmpty { break }
            }
            if (try? S3XML.parse(doc)) != nil { parsed += 1 }
            _ = S3Client.errorDetail(doc)
            _ = try? S3Location.parse(String(decoding: doc, as: UTF8.self))
        }
        #expect(parsed < 20_000, "damage must be noticed at least sometimes")
    }

    /// Hostile or broken documents: each is an error, none traps, none expands entities.
    @Test func refusesHostileInput() {
        let deep = String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)
        let wide = "<r>" + String(repeating: "<a/>", count: 100_001) + "</r>"
        let bad = [
            "", "   ", "text", "<", "<a", "<a>", "<a></b>", "<a></a><b></b>", "<a>&unknown;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>",
            "<a>&#99999999999;</a>", "<a>&amp</a>", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a><!ENTITY x \"y\"></a>",
            "<a b></a>", "<a b=c></a>", "<a b=\"c></a>", "<a><![CDATA[x</a>", "<a><!-- x</a>", "<?xml", "<a/ >", "<1a></1a>x",
            deep, wide,
        ]
        for doc in bad {
            #expect(throws: S3XML.Malformed.self, "\(doc.prefix(60))") { try S3XML.parse(Array(doc.utf8)) }
        }
        #expect(throws: S3XML.Malformed.self) { try S3XML.parse([0x3C, 0x61, 0x3E, 0xFF, 0xFE, 0x3C, 0x2F, 0x61, 0x3E]) }
        #expect(throws: S3XML.Malformed.self) { try S3XML.parse([UInt8](repeating: 0x20, count: S3XML.maxBytes + 1)) }
    }
}
