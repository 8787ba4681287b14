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

    /// A host over `manifests`, with optional overrides of any section of
    /// the deployment, for the suites that build the whole application.
    package static func serverHost(_ manifests: [String: String], config: String? = nil, environment: [String: String] = [:]) throws -> FunctionHost {
        try deployment(manifests, config: config, environment: environment).host
    }
}

extension TestSupport {
    /// The bytes of the file at `path`.
    package static func buffer(_ path: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
