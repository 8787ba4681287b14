import CDescriberFunction
import CLibUV
import DescriberConfiguration
import Foundation
import Synchronization

/// A function's shared library, loaded once and never unloaded, with its
/// four hooks resolved and its self-description checked against this host.
///
/// Loading goes through libuv's `uv_dlopen`/`uv_dlsym`. Libraries are never
/// closed: a library may hold Swift code or threads, and unloading either is
/// unsafe; upgrades replace the process instead.
public struct FunctionLibrary: Sendable {
    public typealias GetInfo = @convention(c) () -> UnsafePointer<describer_function_info>?
    public typealias Create =
        @convention(c) (
            UnsafePointer<describer_host>?, OpaquePointer?, UnsafePointer<CChar>?, Int,
            UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        ) -> Int32
    public typealias Process = @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<describer_request>?, Int) -> Int32
    public typealias Destroy = @convention(c) (UnsafeMutableRawPointer?) -> Void

    /// The symbols every function exports.
    public static let requiredSymbols = [
        "describer_function_get_info", "describer_instance_create", "describer_instance_process",
        "describer_instance_destroy",
    ]

    public private(set) var path: String
    public let capabilities: FunctionCapabilities
    let create: Create
    let process: Process
    let destroy: Destroy

    /// Libraries already opened, by path, with the state of the file they
    /// were opened from. Opening the same file twice would hand out the same
    /// handle anyway, and a failure is remembered so it is reported the same way.
    private static let opened = Mutex<[String: (fingerprint: String, result: Result<FunctionLibrary, LibraryLoadError>)]>([:])

    /// Loads the library at `path` as the file is now, and validates it.
    ///
    /// It is opened from a ``LibrarySnapshot``, removed as soon as it is
    /// mapped, so a changed file is a new version that loads beside the
    /// earlier one, and a file overwritten in place never changes code that
    /// is running. The earlier version stays loaded: code cannot be safely
    /// unloaded while anything may still point into it. Where no copy can be
    /// made (a read-only folder), the file is opened directly, once.
    public static func load(path: String) throws(LibraryLoadError) -> FunctionLibrary {
        let result = opened.withLock { opened in
            let fingerprint = FileSystem.fingerprint(path)
            if let existing = opened[path], existing.fingerprint == fingerprint { return existing.result }
            let firstTime = opened[path] == nil
            let result = Result { () throws(LibraryLoadError) in
                // A missing or unreadable file: let the loader say what is wrong.
                guard FileManager.default.isReadableFile(atPath: path) else { return try FunctionLibrary(opening: path) }
                guard let snapshot = LibrarySnapshot(of: path) else {
                    if firstTime { return try FunctionLibrary(opening: path) }
                    throw LibraryLoadError(.cannotOpen, path: path, "changed, but cannot be copied beside itself to load the new version")
                }
                do throws(LibraryLoadError) {
                    var library = try FunctionLibrary(opening: snapshot.path)
                    library.path = path
                    return library
                } catch {
                    throw LibraryLoadError(error.code, path: path, snapshot.naming(error.reason))
                }
            }
            opened[path] = (fingerprint, result)
            return result
        }
        return try result.get()
    }

    private init(opening path: String) throws(LibraryLoadError) {
        self.path = path
        // The uv_lib_t is deliberately leaked: the library stays loaded for the
        // life of the process.
        let handle = UnsafeMutablePointer<uv_lib_t>.allocate(capacity: 1)
        if uv_dlopen(path, handle) != 0 {
            let message = uv_dlerror(handle).map { String(cString: $0) } ?? "unknown error"
            throw LibraryLoadError(.cannotOpen, path: path, "cannot be loaded: \(message)")
        }
        var symbols: [String: UnsafeMutableRawPointer] = [:]
        var missing: [String] = []
        for name in Self.requiredSymbols {
            var pointer: UnsafeMutableRawPointer?
            if uv_dlsym(handle, name, &pointer) != 0 || pointer == nil {
                missing.append(name)
            } else {
                symbols[name] = pointer
            }
        }
        if !missing.isEmpty {
            throw LibraryLoadError(
                .missingSymbol, path: path,
                "does not export \(missing.joined(separator: ", ")); every function exports \(Self.requiredSymbols.joined(separator: ", ")) (see describer_function.h)"
            )
        }
        let getInfo = unsafeBitCast(symbols["describer_function_get_info"]!, to: GetInfo.self)
        self.create = unsafeBitCast(symbols["describer_instance_create"]!, to: Create.self)
        self.process = unsafeBitCast(symbols["describer_instance_process"]!, to: Process.self)
        self.destroy = unsafeBitCast(symbols["describer_instance_destroy"]!, to: Destroy.self)
        guard let info = getInfo() else {
            throw LibraryLoadError(.badInfo, path: path, "returned NULL from describer_function_get_info")
        }
        self.capabilities = try FunctionCapabilities(validating: info, path: path)
    }
}

/// What a function declared about itself, after validation.
public struct FunctionCapabilities: Sendable, Equatable {
    public enum Input: Sendable, Equatable {
        case bytes
        case rgb8(maxWidth: Int, maxHeight: Int)
    }

    public var abiMajor: Int
    public var abiMinor: Int
    public var name: String
    public var version: String
    public var batch: Bool
    public var reentrant: Bool
    public var input: Input
    /// The function's own batch limit; nil when it has none.
    public var maxBatchSize: Int?

    /// The oldest struct layout this host can read: everything up to max_batch_size.
    static let minimumInfoSize = MemoryLayout<describer_function_info>.offset(of: \.reserved_u32)!

    init(validating pointer: UnsafePointer<describer_function_info>, path: String) throws(LibraryLoadError) {
        let declaredSize = Int(pointer.pointee.struct_size)
        guard declaredSize >= Self.minimumInfoSize else {
            throw LibraryLoadError(
                .badInfo, path: path,
                "declares describer_function_info.struct_size \(declaredSize), smaller than the \(Self.minimumInfoSize) bytes of ABI 1.0"
            )
        }
        // Read only the bytes the function declared: an older, shorter struct
        // must not be read past its end. Missing trailing fields stay zero.
        var info = describer_function_info()
        withUnsafeMutableBytes(of: &info) { destination in
            destination.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: min(declaredSize, destination.count)))
        }
        abiMajor = Int(info.abi_major)
        abiMinor = Int(info.abi_minor)
        let hostVersion = "\(DESCRIBER_ABI_VERSION_MAJOR).\(DESCRIBER_ABI_VERSION_MINOR)"
        guard abiMajor == Int(DESCRIBER_ABI_VERSION_MAJOR) else {
            throw LibraryLoadError(
                .abiMismatch, path: path,
                "was built for function ABI \(abiMajor).\(abiMinor), but this host speaks ABI \(hostVersion); rebuild it against this host's describer_function.h"
            )
        }
        guard abiMinor <= Int(DESCRIBER_ABI_VERSION_MINOR) else {
            throw LibraryLoadError(
                .abiMismatch, path: path,
                "needs function ABI \(abiMajor).\(abiMinor), newer than this host's \(hostVersion); upgrade the host"
            )
        }
        name = info.name.map { String(cString: $0) } ?? ""
        version = info.version.map { String(cString: $0) } ?? ""
        let known = UInt32(DESCRIBER_CAP_BATCH | DESCRIBER_CAP_REENTRANT)
        let unknown = info.capabilities & ~known
        guard unknown == 0 else {
            throw LibraryLoadError(
                .badCapability, path: path,
                "declares unknown capability bits 0x\(String(unknown, radix: 16)) (ABI \(hostVersion) defines 0x\(String(known, radix: 16)))"
            )
        }
        batch = info.capabilities & UInt32(DESCRIBER_CAP_BATCH) != 0
        reentrant = info.capabilities & UInt32(DESCRIBER_CAP_REENTRANT) != 0
        switch info.input_kind {
        case UInt32(DESCRIBER_INPUT_BYTES.rawValue):
            input = .bytes
        case UInt32(DESCRIBER_INPUT_RGB8.rawValue):
            guard info.max_width > 0, info.max_height > 0 else {
                throw LibraryLoadError(
                    .badCapability, path: path,
                    "wants RGB8 input but declares max_width \(info.max_width) x max_height \(info.max_height); both must be > 0"
                )
            }
            input = .rgb8(maxWidth: Int(info.max_width), maxHeight: Int(info.max_height))
        default:
            throw LibraryLoadError(
                .badCapability, path: path,
                "declares input_kind \(info.input_kind); ABI \(hostVersion) knows 0 (bytes) and 1 (rgb8)"
            )
        }
        maxBatchSize = info.max_batch_size == 0 ? nil : Int(info.max_batch_size)
    }
}

/// Why a library was refused. The host keeps serving every other function.
public struct LibraryLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case cannotOpen = "cannot_open"
        case missingSymbol = "missing_symbol"
        case badInfo = "bad_info"
        case abiMismatch = "abi_mismatch"
        case badCapability = "bad_capability"
    }

    public var code: Code
    public var path: String
    public var reason: String

    init(_ code: Code, path: String, _ reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path) \(reason)" }
}
