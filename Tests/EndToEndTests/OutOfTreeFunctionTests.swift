import DescriberHost
import DescriberTesting
import Foundation
import NIOCore
import ServerTestSupport
import TestSupport
import Testing

/// A function built outside the repository, as the guide in
/// functions/README.md shows: the header installed with its pkg-config
/// file, the library compiled against it alone, then loaded by the host.
@Suite struct OutOfTreeFunctionTests {
    @Test func theInstalledHeaderBuildsAFunctionTheHostLoads() async throws {
        let prefix = try TestScratch.folder("sdk")
        let install = try Executables.run("/bin/bash", [TestSupport.packageRoot + "/scripts/install-function-header", prefix])
        #expect(install.status == 0, "\(install.stderr)")
        let pkgConfig = try Executables.run(
            "/usr/bin/pkg-config", ["--cflags", "--print-errors", "describer-function"], environment: ["PKG_CONFIG_PATH": prefix + "/lib/pkgconfig"]
        )
        #expect(pkgConfig.status == 0, "\(pkgConfig.stderr)")
        let cflags = pkgConfig.stdout.split(whereSeparator: \.isWhitespace).map(String.init)
        #expect(cflags == ["-I\(prefix)/include/describer"])

        // Only the installed header: echo.c is copied away from the repository's include folder.
        let source = prefix + "/myecho.c"
        try FileManager.default.copyItem(atPath: TestSupport.echoSource, toPath: source)
        let library = prefix + "/libmyecho.so"
        let compile = try Executables.run("/usr/bin/cc", ["-std=c11", "-fPIC", "-shared"] + cflags + [source, "-o", library])
        #expect(compile.status == 0, "\(compile.stderr)")

        try await FunctionHarness(library: library, name: "myecho", manifest: "request_options: { upper: { type: bool } }").run { harness in
            let output = try await harness.invoke("out of tree", options: [("upper", "true")])
            #expect(String(buffer: output.body) == "OUT OF TREE")
        }
    }
}
