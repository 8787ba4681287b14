import DescriberHost
import ServiceLifecycle

/// Runs the host inside the application's service group.
public struct FunctionHostService: Service {
    let host: FunctionHost

    public init(host: FunctionHost) { self.host = host }

    public func run() async throws {
        await host.start()
        try? await gracefulShutdown()
        await host.shutdown()
    }
}
