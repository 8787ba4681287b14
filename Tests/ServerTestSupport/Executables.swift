import DescriberTesting
import Foundation
import TestSupport

/// The built executables, run as a user would: `describer` by default.
package enum Executables {
    /// The built `describer`, beside the test bundle.
    package static var executable: String { path(of: "describer") }

    /// A product built beside the test bundle (`swift build --build-tests` builds them all).
    package static func path(of product: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(product).path
    }

    package typealias Run = ChildProcess.Outcome

    /// Runs `describer` with `arguments`, in an environment without the
    /// caller's `DESCRIBER_…` variables and with its data in the scratch folder.
    package static func run(_ arguments: [String], input: String? = nil, environment extra: [String: String] = [:]) throws -> Run {
        try run(executable, arguments, input: input, environment: extra)
    }

    /// Runs `executable` with `arguments`, as ``run(_:input:environment:)`` does.
    /// - Parameter unset: variables of this process's environment to leave out.
    package static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, environment extra: [String: String] = [:], unset: Set<String> = []
    ) throws -> Run {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DESCRIBER_") && !unset.contains($0.key) }
        environment["DESCRIBER_DATA_DIRECTORY"] = TestSupport.scratch + "/data"
        environment.merge(extra) { $1 }
        return try ChildProcess.outcome(executable, arguments, input: input, environment: environment)
    }
}
