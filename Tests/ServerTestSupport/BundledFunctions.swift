import DescriberTesting
import Foundation
import TestSupport

/// The functions in `functions/`, for the suites that run them for real:
/// their own manifests, pointed at their libraries. `detect`, `ocr` and
/// `security-events` need `make -C functions` (which `scripts/setup` runs)
/// for their models; `caption` and `speak` are built here from their sources.
package enum BundledFunctions {
    package static let detectDirectory = TestSupport.packageRoot + "/functions/detect"

    /// `detect`'s own manifest and library, as `make -C functions` built them.
    package static func detect(modelDirectory: String? = nil, options: [String] = [], batching: String? = nil) throws -> String {
        let library = detectDirectory + "/libdetect.so"
        guard FileManager.default.fileExists(atPath: library) else {
            throw TestError("\(library) is not built: run `make -C functions` (scripts/setup does)")
        }
        var manifest = try String(contentsOfFile: detectDirectory + "/function.yaml", encoding: .utf8)
            .replacingOccurrences(of: "library: libdetect.so", with: "library: \(library)")
        if let modelDirectory {
            manifest = manifest.replacingOccurrences(of: "model_directory: model ", with: "model_directory: \(modelDirectory) ")
        }
        for option in options {
            let key = String(option.prefix { $0 != ":" })
            manifest = manifest.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("  \(key):") }.joined(separator: "\n")
                .replacingOccurrences(of: "\noptions:\n", with: "\noptions:\n  \(option)\n")
        }
        if let batching {
            manifest = manifest.replacingOccurrences(of: "  max_batch_delay: 5ms", with: "  max_batch_delay: \(batching)")
        }
        return manifest
    }

    package static let captionDirectory = TestSupport.packageRoot + "/functions/caption"

    /// `caption`'s manifest, with its library built from its sources.
    package static func caption() throws -> String {
        let library = try TestSupport.library(
            "caption", source: captionDirectory + "/caption.c", extraFlags: [captionDirectory + "/image_facts.c"], libraries: ["-lm"]
        )
        return try String(contentsOfFile: captionDirectory + "/function.yaml", encoding: .utf8)
            .replacingOccurrences(of: "library: libcaption.so", with: "library: \(library)")
    }

    package static let speakDirectory = TestSupport.packageRoot + "/functions/speak"

    /// libspeak.so built from the function's own sources.
    package static func speakLibrary() throws -> String {
        try TestSupport.library(
            "speak", source: speakDirectory + "/speak.c",
            extraFlags: ["-D_GNU_SOURCE", speakDirectory + "/text.c"], libraries: ["-lespeak-ng", "-lpthread"]
        )
    }

    /// `speak`'s real manifest, pointed at the freshly built library.
    package static func speak(_ extra: String = "") throws -> String {
        var manifest = try String(contentsOfFile: speakDirectory + "/function.yaml", encoding: .utf8)
        manifest = manifest.replacingOccurrences(of: "library: libspeak.so", with: "library: \(try speakLibrary())")
        return manifest + "\n" + extra
    }
}
