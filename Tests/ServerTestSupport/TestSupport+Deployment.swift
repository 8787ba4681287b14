import DescriberConfiguration
import DescriberHost
import DescriberServer
import DescriberTesting
import Foundation
import NIOCore
import TestSupport

extension TestSupport {
    /// A host over `manifests` and the whole deployment's configuration
    /// (the cameras', the DeepStack API's), with optional overrides.
    package static func deployment(
        _ manifests: [String: String], config: String? = nil, environment: [String: String] = [:]
    ) throws -> (host: FunctionHost, deployment: DeploymentConfig) {
        let directory = try functionsDirectory(manifests)
        let node = try TestHost.configuration(config, environment: environment, namedSections: DeploymentConfig.namedSections)
        var deployment = try DeploymentConfig(document: ConfigDocument(root: node))
        deployment.host = TestHost.prepared(deployment.host, functionsDirectory: directory)
        return (try FunctionHost(config: deployment.host, logger: logger), deployment)
    }
}

extension TestSupport {
    /// The bytes of the file at `path`.
    package static func buffer(_ path: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
