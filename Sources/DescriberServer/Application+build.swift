import Assist
import Cameras
import DeepStack
import DescriberHTTP
import DescriberHost
import Describing
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the HTTP application around a host: the routes below plus the
/// host's lifecycle (pre-warm on start, drain on graceful shutdown).
///
/// Routes:
/// - `POST /v1/functions/{name}/invoke` — the body is the input, its
///   Content-Type is passed on, query parameters are per-request options,
///   `X-Describer-Timeout-Ms` may shorten (or lengthen up to the maximum)
///   the deadline. The answer carries the function's output and content
///   type, `X-Describer-Cold-Start` and `Server-Timing`.
/// - `GET /v1/functions`, `GET /v1/functions/{name}` — state and effective configuration.
/// - `POST /v1/describe` — a photo in, its description out (JSON, or WAV with `Accept: audio/wav`).
/// - `POST /v1/speak` — text in, WAV out (`?voice=`, `?rate=`, `?format=json`).
/// - `GET /v1/voices` — the voice profiles.
/// - `POST /v1/vision/detection`, `/v1/vision/custom/{model}`, `/v1/vision/custom/list`,
///   `GET /v1/status/ping` — the DeepStack / CodeProject.AI API (see ``DeepStackRoutes``).
/// - `POST /v1/cameras/{id}/events`, `GET /v1/cameras`, `GET /v1/cameras/{id}/events` —
///   the camera webhook and its stored events (see ``CameraRoutes``); `cameras`
///   also adds the service that processes accepted events.
/// - `GET /v1/alerts`, `GET /v1/alerts/{id}/speech`, `GET /v1/alerts/deliveries` —
///   incidents' alerts, spoken, and their signed deliveries (see ``AlertRoutes``).
/// - `GET /v1/assist`, `POST /v1/assist`, `GET|DELETE /v1/assist/{id}`, `GET /v1/assist/{id}/events`,
///   and for helpers `GET /v1/assist/pending[/events]`, `GET /v1/assist/{id}/photo`,
///   `POST /v1/assist/{id}/answer` — asking a person (see ``AssistRoutes``);
///   `assist` also adds the service that expires and deletes questions.
/// - `GET /metrics` — Prometheus text.
/// - `GET /healthz` (the process answers) and `GET /readyz` (pre-warm done, not shutting down).
/// - `GET /openapi.yaml` — the OpenAPI document of all of the above (``OpenAPIDocument``).
/// - `GET /` — the web app, and `GET /review`, the helpers' page (see ``WebAppRoutes``), open like their files under `/app/`.
///
/// Invocations are mostly answered without the router, by the fast path in
/// each connection's pipeline (``InvocationChannelHandler``); the route
/// answers the rest.
///
/// With `server.api_token` set, every route above except the camera webhook,
/// the DeepStack API, the helpers' routes (they carry their own tokens), `/metrics`, `/healthz`, `/readyz` and `/openapi.yaml` needs
/// `Authorization: Bearer <token>` (401 otherwise).
///
/// With `deepstack.ports` set (``DeepStackConfig``), the DeepStack API alone is also served on
/// those ports (CodeProject.AI's 32168, DeepStack's 5000), for clients that
/// cannot be told another port.
public func buildApplication(
    host: FunctionHost, voices: VoiceLibrary = VoiceLibrary(profiles: []), cameras: CameraSystem? = nil,
    deepStack: DeepStackConfig = DeepStackConfig(), assist: AssistQueue? = nil, logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(host: host, voices: voices, cameras: cameras, deepStack: deepStack, assist: assist)
    let serverName = "describer"
    // The camera service comes after the host: a service group stops services
    // in reverse order, so processing ends before the functions it calls drain.
    var services: [any Service] = [FunctionHostService(host: host)]
    if let cameras, cameras.config.processingEnabled {
        services += [cameras.service, cameras.forwarder]
        if let checker = cameras.checker { services.append(checker) }
    }
    if let assist { services.append(AssistService(queue: assist)) }
    for port in deepStack.ports {
        let deepStackRouter = Router()
        deepStackRouter.add(middleware: JSONErrorMiddleware())
        DeepStackRoutes(host: host, apiKey: deepStack.apiKey).register(on: deepStackRouter)
        services.append(
            Application(
                router: deepStackRouter,
                server: .describer(host: host, serverName: serverName, invokeFastPath: false),
                configuration: .describer(host: host, port: port, serverName: serverName),
                logger: logger
            ))
    }
    return Application(
        router: router,
        server: .describer(host: host, serverName: serverName),
        configuration: .describer(host: host, port: host.config.port, serverName: serverName),
        services: services,
        logger: logger
    )
}

/// The router alone, for tests and for embedding.
public func buildRouter(
    host: FunctionHost, voices: VoiceLibrary = VoiceLibrary(profiles: []), cameras: CameraSystem? = nil, deepStack: DeepStackConfig = DeepStackConfig(),
    assist: AssistQueue? = nil
) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: JSONErrorMiddleware())
    // The API proper: behind `server.api_token` when one is set.
    let api = router.group()
    if let token = host.config.apiToken { api.add(middleware: APITokenMiddleware(token: token)) }
    let routes = FunctionRoutes(host: host)
    api.post("/v1/functions/:name/invoke", use: routes.invoke)
    api.get("/v1/functions", use: routes.list)
    api.get("/v1/functions/:name", use: routes.show)
    let speaker = Speaker(host: host, voices: voices)
    let speech = SpeechRoutes(speaker: speaker)
    api.post("/v1/describe", use: DescribeRoutes(describer: ImageDescriber(host: host), speaker: speaker).describe)
    api.post("/v1/speak", use: speech.speak)
    api.get("/v1/voices", use: speech.voices)
    CameraRoutes(system: cameras).register(webhookOn: router, readingBackOn: api)
    if let cameras { AlertRoutes(system: cameras, speaker: speaker).register(on: api) }
    if let assist {
        AssistRoutes(queue: assist, maxPhotoBytes: host.config.maxBodySize).register(askingOn: api, helpingOn: router)
    } else {
        AssistRoutes.registerUnavailable(on: api)
    }
    // Open whatever the token: DeepStack clients send their own api_key,
    // and monitoring must work without a secret.
    DeepStackRoutes(host: host, apiKey: deepStack.apiKey).register(on: router)
    router.get("/metrics", use: routes.metrics)
    router.get("/healthz", use: routes.health)
    router.get("/readyz", use: routes.ready)
    OpenAPIDocument.register(on: router)
    WebAppRoutes(maxUploadBytes: host.config.maxBodySize).register(on: router)
    return router
}
