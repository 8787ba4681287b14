import CDescriberFuzz

#if canImport(Glibc)
import Glibc
#endif

/// `describer-fuzz TARGET [libFuzzer options] [CORPUS…]`
///
/// One executable for every fuzz target, so that the sanitized build links the
/// host once. It has its own main, which picks the target and then calls
/// libFuzzer's driver: an executable SwiftPM links always has a main (on
/// Linux it renames the entry point and links it back as main), which
/// libFuzzer's own would clash with, so it links libFuzzer's runtime without
/// one (scripts/fuzz). libFuzzer runs its own
/// executable again, with the command line it was given, to merge corpora and
/// minimise crashes; so the target travels in the environment, which those
/// runs inherit.
@main
enum DescriberFuzz {
    static let variable = "DESCRIBER_FUZZ_TARGET"

    static func main() {
        var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        var count = CommandLine.argc
        if getenv(variable) == nil, count > 1, let first = CommandLine.unsafeArgv[1], FuzzTarget.named(String(cString: first)) != nil {
            setenv(variable, first, 1)
            // The target's name goes: libFuzzer would take it for a corpus directory.
            CommandLine.unsafeArgv[1] = CommandLine.unsafeArgv[0]
            arguments = CommandLine.unsafeArgv + 1
            count -= 1
        }
        guard let name = getenv(variable).map({ String(cString: $0) }), let target = FuzzTarget.named(name) else {
            let usage = "usage: describer-fuzz TARGET [libFuzzer options] [CORPUS…]\ntargets: \(FuzzTarget.all.map(\.name).joined(separator: ", "))\n"
            _ = usage.withCString { write(2, $0, strlen($0)) }
            exit(2)
        }
        FuzzTarget.selected = target
        exit(
            LLVMFuzzerRunDriver(&count, &arguments) { data, size in
                FuzzTarget.selected!.run(UnsafeRawBufferPointer(start: data, count: size))
                return 0
            })
    }
}
