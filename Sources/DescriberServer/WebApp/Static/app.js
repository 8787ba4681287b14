// Describer's web app: take or choose a photo, hear its description, and
// ask a person when the description is not enough.
//
// Plain JavaScript with no framework and nothing fetched from elsewhere.
// It calls the server's own API, /v1/describe, /v1/speak, /v1/voices and
// /v1/assist, with the API token when the server asks for one. Everything it
// remembers (settings, the token, recent descriptions, the question waiting
// for a person) stays in this browser's localStorage; photos are kept in
// memory only, never stored.

import { $, apiWith, clockOffset, duration, errorOf, readEvents, sentence, showTokenForm, sleep, store, takeToken } from "./common.js";

const keys = {
    token: "describer.token",
    settings: "describer.settings",
    recent: "describer.recent",
    // The question waiting for a person, so a reload picks it up again.
    asking: "describer.asking",
};
const recentLimit = 10;

// The largest photo the server takes; index.html carries it.
const maxUploadBytes =
    Number(document.querySelector('meta[name="describer-max-upload-bytes"]')?.content) || 20 * 1024 * 1024;
// A photo larger than that is made smaller, to at most this many pixels on
// its longer side: still plenty for reading small print.
const shrinkToSide = 4096;

const settings = Object.assign(
    { autoSpeak: false, voice: "", rate: null, verbosity: "normal" },
    store.json(keys.settings, {}),
);

const state = {
    // The photo being described or last described, for "More detail" and "Try again".
    photo: null,
    // What is shown: {text, usable, allText, verbosity}.
    shown: null,
    // The describe request in flight, so a new photo cancels it.
    describing: null,
    // The speech playing or being fetched.
    speaking: null,
    // What to do once the person has entered the token the server asked for.
    afterToken: null,
    // The last failed action, when trying it again may help.
    retry: null,
    // Photos of this visit's recent descriptions, by entry id.
    photos: new Map(),
};

const audio = new Audio();

// ---- Showing things -------------------------------------------------------

function setState(name) {
    document.body.dataset.state = name;
}

function setStatus(text) {
    $("status").textContent = text;
}

function showError(text, { retry = null } = {}) {
    const region = $("error");
    state.retry = retry;
    $("retry").hidden = !retry;
    if (!text) {
        region.replaceChildren();
        return;
    }
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    region.replaceChildren(paragraph);
    setStatus("");
    setState("error");
    updateActions();
}

// Puts the description in the live region: screen readers announce it,
// with the offer to ask a person when there is one, in the same breath.
function writeDescription(text, offer = "") {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    const paragraphs = [paragraph];
    if (offer) {
        const offered = document.createElement("p");
        offered.className = "offer";
        offered.textContent = offer;
        paragraphs.push(offered);
    }
    $("description").replaceChildren(...paragraphs);
}

function updateActions() {
    const shown = state.shown;
    const failed = document.body.dataset.state === "error";
    $("speak").hidden = !shown || failed;
    $("repeat").hidden = !shown || failed;
    $("more-detail").hidden = !shown || failed || !shown.usable || shown.verbosity === "detailed" || !state.photo;
    $("read-text").hidden = !shown || failed || !shown.allText;
    // One question at a time; and only with the photo itself, kept in memory.
    const askable = assist.enabled && shown && !failed && state.photo && ["", "answered"].includes(askState());
    $("ask-person").hidden = !askable;
    // Offered when the machine is unsure: first among the buttons, and the main one.
    const offered = askable && Boolean(offerFor(shown)) && !shown.offerTaken;
    $("ask-person").classList.toggle("primary", offered);
    // Moved only when it must: moving the button would take the focus off it.
    const actions = $("result-actions");
    if (offered && actions.firstElementChild !== $("ask-person")) actions.prepend($("ask-person"));
    if (!offered && actions.lastElementChild !== $("ask-person")) actions.append($("ask-person"));
    const anyVisible = [...$("result-actions").querySelectorAll("button")].some((button) => !button.hidden);
    $("result-actions").hidden = !anyVisible;
}

// Rounded up, so a photo just over the limit never reads as the limit itself.
function megabytes(bytes) {
    if (bytes < 1024 * 1024) return `${Math.ceil(bytes / 1024)} KB`;
    return `${(Math.ceil((bytes * 10) / (1024 * 1024)) / 10).toString()} MB`;
}

// ---- The API ----------------------------------------------------------------

// A request to the server, with the token when one is kept. The token goes
// in a header only, never in an address.
const api = apiWith(keys.token);

// What to tell the person about a failed describe, and whether trying
// again may help.
function explain(response, error) {
    const retryAfter = Number(response.headers.get("Retry-After"));
    switch (error.code) {
        case "payload_too_large":
            return {
                text: `This photo is too large for the server, which takes photos up to ${megabytes(maxUploadBytes)}. Take it again at a lower resolution, or choose a smaller photo.`,
            };
        case "image_too_large":
            return { text: `${sentence(error.message)} Take it again at a lower resolution, or choose a smaller photo.` };
        case "not_an_image":
        case "truncated_image":
        case "unsupported_format":
        case "unsupported_media_type":
            return { text: `That file cannot be described. ${sentence(error.message)} Choose a photo in JPEG or PNG.` };
        case "queue_full":
        case "function_unavailable":
            return {
                text: `The server is busy. Try again${retryAfter > 0 ? ` in ${retryAfter} seconds` : " in a moment"}.`,
                retry: true,
            };
        case "deadline_exceeded":
            return { text: "Describing took too long. Try again.", retry: true };
        default:
            if (response.status === 413) {
                return { text: `This photo is too large for the server. Choose a smaller photo.` };
            }
            return { text: `The photo could not be described: ${sentence(error.message)}`, retry: true };
    }
}

const unreachable =
    "The Describer server cannot be reached. Check that this device is on the same network as the server, then try again.";

// ---- The token ----------------------------------------------------------------

function askForToken({ rejected, then, focus = true }) {
    state.afterToken = then;
    showTokenForm(
        rejected
            ? "The access token kept on this device was not accepted. Enter the server's access token again."
            : "This Describer server needs its access token. Enter it once: it is kept on this device only.",
        { focus },
    );
}

function tokenKept() {
    $("forget-token").hidden = !store.get(keys.token);
}

$("token-form").addEventListener("submit", async (event) => {
    // Handled here, so the token is never sent as a form.
    event.preventDefault();
    // Tried at once, so a mistyped token is said to be wrong here, where it
    // was typed, not after the next photo.
    if (!(await takeToken(keys.token, () => api("/v1/voices")))) return;
    tokenKept();
    setStatus("Token saved.");
    const then = state.afterToken;
    state.afterToken = null;
    loadVoices();
    if (!assist.loaded) loadAssist();
    // The form is gone: focus goes where the person is headed next.
    if (then) {
        $("description-heading").focus();
        then();
    } else {
        $("take-photo").focus();
    }
});

$("forget-token").addEventListener("click", () => {
    store.set(keys.token, null);
    tokenKept();
    $("settings-heading").focus();
    setStatus("The access token was removed from this device.");
});

// ---- Photos -----------------------------------------------------------------

// Draws the photo again as a JPEG, at most `side` pixels on its longer side:
// for formats the server cannot read (WebP, GIF, AVIF where the browser can)
// and for photos over the size limit. Null when the browser cannot decode it.
async function asJPEG(file, side) {
    if (typeof createImageBitmap !== "function") return null;
    let bitmap;
    try {
        bitmap = await createImageBitmap(file);
    } catch {
        return null;
    }
    const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}

// The photo as a JPEG under the server's limit, smaller each try; null when
// the browser cannot decode it or it will not fit.
async function smallerThanLimit(file) {
    let side = shrinkToSide;
    for (let attempt = 0; attempt < 4; attempt += 1) {
        const jpeg = await asJPEG(file, side);
        if (!jpeg) return null;
        if (jpeg.size <= maxUploadBytes) return jpeg;
        side = Math.round(side * 0.7);
    }
    return null;
}

let previewURL = null;

function preview(photo) {
    if (previewURL) URL.revokeObjectURL(previewURL);
    previewURL = photo ? URL.createObjectURL(photo) : null;
    $("preview").hidden = !photo;
    if (previewURL) $("preview").src = previewURL;
    else $("preview").removeAttribute("src");
}

async function photoChosen(file) {
    performance.clearMarks();
    performance.mark("describer:photo-chosen");
    stopSpeech();
    state.describing?.abort();
    state.photo = null;
    state.shown = null;
    showError(null);
    $("text-section").hidden = true;
    if (file.size === 0) {
        preview(null);
        showError("That file is empty. Choose a photo.");
        return;
    }
    let photo = file;
    const readable = ["image/jpeg", "image/png"].includes(file.type);
    if (file.size > maxUploadBytes) {
        photo = (await smallerThanLimit(file)) ?? file;
    } else if (file.type.startsWith("image/") && !readable) {
        photo = (await asJPEG(file, Infinity)) ?? file;
    }
    if (photo.size > maxUploadBytes) {
        preview(null);
        $("description").replaceChildren();
        showError(
            `This photo is ${megabytes(file.size)}, and the server takes photos up to ${megabytes(maxUploadBytes)}. ` +
                "Take it again at a lower resolution, or choose a smaller photo.",
        );
        return;
    }
    state.photo = photo;
    preview(photo);
    describe(photo, settings.verbosity, {
        note: photo !== file && file.size > maxUploadBytes ? "The photo was larger than the server takes, so it was made smaller. " : "",
    });
}

for (const [button, input] of [
    ["take-photo", "camera-input"],
    ["choose-photo", "file-input"],
]) {
    $(button).addEventListener("click", () => {
        unlockAudio();
        $(input).click();
    });
    $(input).addEventListener("change", () => {
        const file = $(input).files?.[0];
        // Cleared, so choosing the same file again describes it again.
        $(input).value = "";
        if (file) photoChosen(file);
    });
}

// ---- Describing ---------------------------------------------------------------

async function describe(photo, verbosity, { note = "" } = {}) {
    state.describing?.abort();
    const controller = new AbortController();
    state.describing = controller;
    stopSpeech();
    showError(null);
    const moreDetail = verbosity === "detailed" && state.shown;
    state.shown = null;
    updateActions();
    $("text-section").hidden = true;
    $("description").replaceChildren();
    setState("describing");
    setStatus(note + (moreDetail ? "Describing in more detail…" : "Describing your photo…"));
    const again = () => describe(photo, verbosity);
    let response;
    try {
        response = await api(`/v1/describe?verbosity=${encodeURIComponent(verbosity)}`, {
            method: "POST",
            body: photo,
            headers: { "Content-Type": photo.type || "application/octet-stream", Accept: "application/json" },
            signal: controller.signal,
        });
    } catch {
        if (controller.signal.aborted) return;
        showError(unreachable, { retry: again });
        return;
    }
    if (controller.signal.aborted) return;
    if (response.status === 401) {
        state.describing = null;
        setState("error");
        setStatus("Waiting for the access token.");
        askForToken({ rejected: Boolean(store.get(keys.token)), then: again });
        return;
    }
    if (!response.ok) {
        const error = await errorOf(response);
        if (controller.signal.aborted) return;
        const { text, retry } = explain(response, error);
        showError(text, { retry: retry ? again : null });
        return;
    }
    let description;
    try {
        description = await response.json();
    } catch {
        if (controller.signal.aborted) return;
        showError("The server's answer could not be read. Try again.", { retry: again });
        return;
    }
    if (controller.signal.aborted) return;
    state.describing = null;
    const allText = (description.parts || [])
        .filter((part) => part.function === "ocr")
        .map((part) => part.text)
        .join("\n\n");
    show({ text: description.spoken_text, usable: description.usable, unsure: description.unsure === true, allText, verbosity }, photo);
}

// Shows a description (new, or brought back from the recent ones).
function show(shown, photo, { recall = false } = {}) {
    state.shown = shown;
    state.photo = photo;
    setStatus("");
    setState(shown.usable ? "described" : "refused");
    if (!["waiting", "sending"].includes(askState())) resetAsk();
    updateActions();
    writeDescription(shown.text, $("ask-person").hidden ? "" : offerFor(shown));
    performance.mark("describer:description-shown");
    if (!recall && shown.usable) remember(shown, photo);
    if (settings.autoSpeak) speak(shown.text);
}

// These buttons hide while the photo is described again, so the focus
// moves to the description's heading instead of being lost to the page.
$("more-detail").addEventListener("click", () => {
    if (!state.photo) return;
    $("description-heading").focus();
    describe(state.photo, "detailed");
});

$("retry").addEventListener("click", () => {
    const retry = state.retry;
    if (!retry) return;
    $("description-heading").focus();
    retry();
});

// Says it again: the live region is emptied and refilled, since screen
// readers do not announce a region whose text has not changed.
$("repeat").addEventListener("click", () => {
    const shown = state.shown;
    if (!shown) return;
    $("description").replaceChildren();
    setTimeout(() => writeDescription(shown.text), 150);
    if (settings.autoSpeak) speak(shown.text);
});

$("read-text").addEventListener("click", () => {
    const shown = state.shown;
    if (!shown?.allText) return;
    $("all-text").textContent = shown.allText;
    $("text-section").hidden = false;
    // Focus on the text itself, so a screen reader reads it from the start.
    $("all-text").focus();
    if (settings.autoSpeak) speak(shown.allText);
});

// ---- Speech -----------------------------------------------------------------

// iOS lets a page play sound only from a tap; playing a moment of silence
// on the first tap lets the same element speak later, after the server answers.
let audioUnlocked = false;

function unlockAudio() {
    if (audioUnlocked) return;
    audioUnlocked = true;
    const header = new DataView(new ArrayBuffer(46));
    const text = (offset, value) => [...value].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
    text(0, "RIFF");
    header.setUint32(4, 38, true);
    text(8, "WAVEfmt ");
    header.setUint32(16, 16, true);
    header.setUint16(20, 1, true);
    header.setUint16(22, 1, true);
    header.setUint32(24, 8000, true);
    header.setUint32(28, 16000, true);
    header.setUint16(32, 2, true);
    header.setUint16(34, 16, true);
    text(36, "data");
    header.setUint32(40, 2, true);
    const url = URL.createObjectURL(new Blob([header], { type: "audio/wav" }));
    audio.src = url;
    audio.play().catch(() => {}).finally(() => URL.revokeObjectURL(url));
}

function stopSpeech() {
    if (!state.speaking) return;
    state.speaking.abort();
    state.speaking = null;
    audio.pause();
    $("speak").textContent = "Speak";
}

async function speak(text) {
    stopSpeech();
    const controller = new AbortController();
    state.speaking = controller;
    $("speak").textContent = "Stop speaking";
    const query = new URLSearchParams();
    if (settings.voice) query.set("voice", settings.voice);
    if (settings.rate) query.set("rate", String(settings.rate));
    let response;
    try {
        response = await api(`/v1/speak${query.toString() ? `?${query}` : ""}`, {
            method: "POST",
            body: text,
            headers: { "Content-Type": "text/plain; charset=utf-8", Accept: "audio/wav" },
            signal: controller.signal,
        });
    } catch {
        if (controller.signal.aborted) return;
        stopSpeech();
        setStatus("Speech is not available: the server cannot be reached.");
        return;
    }
    if (controller.signal.aborted) return;
    if (response.status === 401) {
        stopSpeech();
        askForToken({ rejected: Boolean(store.get(keys.token)), then: () => speak(text) });
        return;
    }
    if (!response.ok) {
        const error = await errorOf(response);
        stopSpeech();
        setStatus(`Speech is not available: ${sentence(error.message)}`);
        return;
    }
    const blob = await response.blob();
    if (controller.signal.aborted) return;
    const url = URL.createObjectURL(blob);
    audio.src = url;
    const finished = () => {
        URL.revokeObjectURL(url);
        if (state.speaking === controller) {
            state.speaking = null;
            $("speak").textContent = "Speak";
        }
    };
    audio.onended = finished;
    audio.onerror = finished;
    controller.signal.addEventListener("abort", finished);
    try {
        await audio.play();
        document.body.dataset.speech = "playing";
    } catch {
        finished();
        setStatus("The browser did not let the page play sound. Press Speak to hear it.");
    }
}

$("speak").addEventListener("click", () => {
    if (state.speaking) {
        stopSpeech();
        return;
    }
    unlockAudio();
    const textShown = !$("text-section").hidden && state.shown?.allText;
    if (state.shown) speak(textShown ? state.shown.allText : state.shown.text);
});

// ---- Asking a person ----------------------------------------------------------

// When the server has helpers (GET /v1/assist), a photo can be sent to a
// person, who answers in words. One question at a time; its id is kept on
// the device, so a reload while it waits picks it up again.
const assist = {
    // Whether GET /v1/assist answered (it is asked again after a token is entered).
    loaded: false,
    enabled: false,
    answerTimeout: 300,
    // The question asked: {id, question, expiresAt (on this device's clock)}.
    asked: null,
    // The photo asked about, while this visit lasts, and the question: for "Ask again".
    photo: null,
    lastQuestion: "",
    // Stops following the question's events.
    following: null,
};

function askState() {
    return document.body.dataset.ask || "";
}

function setAsk(name) {
    document.body.dataset.ask = name;
}

// The sentence offering a person, said right after an unsure description.
function offerFor(shown) {
    if (!shown) return "";
    if (!shown.usable) return "Or ask a person to look at it.";
    if (shown.unsure) return "The machine is not sure about this photo. You can ask a person to look at it.";
    return "";
}

// Says it politely; emptied first, so the same words are said again.
function sayAsk(text) {
    const region = $("ask-status");
    if (!text || region.textContent !== text) {
        region.textContent = text;
        return;
    }
    region.textContent = "";
    setTimeout(() => {
        region.textContent = text;
    }, 150);
}

function askError(text) {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    if (text) $("ask-error").replaceChildren(paragraph);
    else $("ask-error").replaceChildren();
}

// Which part of the section shows: the form, the waiting, how it ended, or
// none (the heading hides too; the live regions stay).
function askPart(part, heading) {
    $("ask-heading").textContent = heading;
    $("ask-heading").hidden = !part;
    $("ask-form").hidden = part !== "form";
    $("ask-waiting").hidden = part !== "waiting";
    $("ask-ended").hidden = part !== "ended";
    $("ask-section").dataset.part = part;
}

// Back to nothing asked: for a new photo after the last question ended.
function resetAsk() {
    stopFollowing();
    assist.asked = null;
    setAsk("");
    askPart("", "Ask a person");
    $("ask-status").textContent = "";
    askError("");
    $("answer").replaceChildren();
}

function openAskForm(question = "") {
    stopFollowing();
    assist.asked = null;
    setAsk("asking");
    askError("");
    $("ask-status").textContent = "";
    $("ask-explanation").textContent =
        "A person you trust sees this photo and answers in words. " +
        `If nobody answers within ${duration(assist.answerTimeout)}, the question ends.`;
    $("ask-question").value = question;
    askPart("form", "Ask a person");
    updateActions();
    $("ask-question").focus();
}

$("ask-person").addEventListener("click", () => {
    if (!state.photo) return;
    unlockAudio();
    assist.photo = state.photo;
    openAskForm();
});

$("ask-close").addEventListener("click", () => {
    resetAsk();
    updateActions();
    $("ask-person").focus();
});

$("ask-again").addEventListener("click", () => {
    unlockAudio();
    openAskForm(assist.lastQuestion ?? "");
});

$("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    unlockAudio();
    if (askState() === "sending") return;
    askPerson(assist.photo, $("ask-question").value.trim());
});

// What to tell the person when the question could not be sent.
function explainAsk(response, error) {
    const retryAfter = Number(response.headers.get("Retry-After"));
    const later = retryAfter > 0 ? `in ${duration(retryAfter)}` : "in a few minutes";
    switch (error.code) {
        case "rate_limited":
            return `You have asked many questions in a short time. Ask again ${later}.`;
        case "queue_full":
            return `Too many questions are already waiting for a person. Ask again ${later}.`;
        case "assist_unavailable":
            return "Nobody is set up to answer questions on this server now.";
        case "cross_site":
            return "The server refused the question because it did not come from its own page. Reload the page and ask again.";
        case "payload_too_large":
        case "image_too_large":
        case "not_an_image":
        case "truncated_image":
        case "unsupported_format":
        case "unsupported_media_type":
            return explain(response, error).text.replace("cannot be described", "cannot be sent");
        default:
            if (response.status === 413) return explain(response, error).text;
            return `The question could not be sent: ${sentence(error.message)}`;
    }
}

async function askPerson(photo, question) {
    if (!photo) return;
    askError("");
    setAsk("sending");
    assist.lastQuestion = question;
    const query = question ? `?question=${encodeURIComponent(question)}` : "";
    const again = () => askPerson(photo, question);
    let response;
    try {
        response = await api(`/v1/assist${query}`, {
            method: "POST",
            body: photo,
            headers: { "Content-Type": photo.type || "image/jpeg", Accept: "application/json" },
        });
    } catch {
        setAsk("asking");
        askError(unreachable);
        return;
    }
    if (response.status === 401) {
        setAsk("asking");
        askForToken({ rejected: Boolean(store.get(keys.token)), then: again });
        return;
    }
    if (response.status !== 202 && !response.ok) {
        const error = await errorOf(response);
        setAsk("asking");
        askError(explainAsk(response, error));
        if (error.code === "assist_unavailable") {
            assist.enabled = false;
            askPart("", "Ask a person");
            setAsk("");
            updateActions();
            $("description-heading").focus();
        }
        return;
    }
    let asked;
    try {
        asked = await response.json();
    } catch {
        setAsk("asking");
        askError("The server's answer could not be read. Ask again.");
        return;
    }
    const offset = clockOffset(response);
    store.set(keys.asking, JSON.stringify({ id: asked.id, offset }));
    // The offer was taken: not said again (a removal is not announced).
    $("description").querySelector(".offer")?.remove();
    if (state.shown) state.shown.offerTaken = true;
    waiting({ ...asked, question: asked.question ?? (question || null) }, offset, "Your question was sent.");
    // The form is gone: the focus goes to the heading that now says what is happening.
    $("ask-heading").focus();
    follow(asked.id);
}

// When the question ends, on this device's clock: from the server's
// expires_at, or from answer_timeout when the answer has none.
function expiresAt(question, offset) {
    const expires = Date.parse(question.expires_at) - offset;
    return Number.isFinite(expires) ? expires : Date.now() + assist.answerTimeout * 1000;
}

function waiting(question, offset, announcement) {
    assist.asked = { id: question.id, question: question.question, expiresAt: expiresAt(question, offset) };
    setAsk("waiting");
    $("ask-asked").textContent = question.question
        ? `You asked: “${question.question}”`
        : "You asked for a description of the photo.";
    askPart("waiting", "Waiting for a person");
    updateActions();
    sayAsk(announcement);
}

$("ask-time-left").addEventListener("click", () => {
    const asked = assist.asked;
    if (!asked) return;
    const left = (asked.expiresAt - Date.now()) / 1000;
    sayAsk(left >= 1 ? `About ${duration(left)} left for a person to answer.` : "The time for an answer is nearly up.");
});

$("ask-cancel").addEventListener("click", () => cancelAsking());

async function cancelAsking() {
    const asked = assist.asked;
    if (!asked || askState() !== "waiting") return;
    let response;
    try {
        response = await api(`/v1/assist/${encodeURIComponent(asked.id)}`, { method: "DELETE", headers: { Accept: "application/json" } });
    } catch {
        askError("The question could not be cancelled: the server cannot be reached. Try again.");
        return;
    }
    if (response.status === 401) {
        askForToken({ rejected: Boolean(store.get(keys.token)), then: cancelAsking });
        return;
    }
    if (response.status === 404) {
        ended("cancelled", "The question was cancelled.");
        return;
    }
    if (!response.ok) {
        const error = await errorOf(response);
        askError(`The question could not be cancelled: ${sentence(error.message)}`);
        return;
    }
    try {
        update(await response.json());
    } catch {
        ended("cancelled", "The question was cancelled.");
    }
}

// A question's new status, from its events, a look, or a cancel.
function update(question) {
    if (!assist.asked || question.id !== assist.asked.id) return;
    switch (question.status) {
        case "answered":
            answered(question);
            break;
        case "expired": {
            const seconds = (Date.parse(question.expires_at) - Date.parse(question.asked_at)) / 1000;
            const within = Number.isFinite(seconds) ? seconds : assist.answerTimeout;
            const next = assist.photo ? "You can ask again." : "To ask again, take or choose the photo again.";
            ended("expired", `Nobody answered within ${duration(within)}. ${next}`);
            break;
        }
        case "cancelled":
            ended("cancelled", "The question was cancelled, and the photo was deleted from the server.");
            break;
        default:
            break;
    }
}

function answered(question) {
    const focusWasInside = $("ask-section").contains(document.activeElement);
    stopFollowing();
    store.set(keys.asking, null);
    assist.asked = null;
    setAsk("answered");
    askPart("", "Ask a person");
    $("ask-status").textContent = "";
    askError("");
    const { helper, text } = question.answer;
    const said = `${helper} answered: ${text}`;
    const from = document.createElement("strong");
    from.textContent = `${helper} answered:`;
    const paragraph = document.createElement("p");
    paragraph.append(from, ` ${text}`);
    $("answer").replaceChildren(paragraph);
    remember({ text: said, allText: "", usable: true, kind: "answer", question: question.question }, assist.photo);
    updateActions();
    if (focusWasInside) ($("ask-person").hidden ? $("description-heading") : $("ask-person")).focus();
    if (settings.autoSpeak) speak(said);
}

function ended(status, text) {
    const focusWasInside = $("ask-section").contains(document.activeElement);
    stopFollowing();
    store.set(keys.asking, null);
    assist.asked = null;
    setAsk(status);
    $("ask-again").hidden = !assist.photo;
    askPart("ended", status === "expired" ? "Nobody answered" : "Question cancelled");
    sayAsk(text);
    updateActions();
    if (focusWasInside) $("ask-heading").focus();
}

function stopFollowing() {
    assist.following?.abort();
    assist.following = null;
}

// Follows the question's events until a final status. A dropped stream is
// followed by one look at the question (GET), then the stream again, after
// 1, 2, 4 then 5 seconds: so a question is never looked at less often than
// that while the server cannot stream.
async function follow(id) {
    stopFollowing();
    const controller = new AbortController();
    assist.following = controller;
    const signal = controller.signal;
    const path = `/v1/assist/${encodeURIComponent(id)}`;
    let failures = 0;
    while (!signal.aborted) {
        try {
            const response = await api(`${path}/events`, { headers: { Accept: "text/event-stream" }, signal });
            if (response.ok && response.body) {
                await readEvents(response, (name, data) => {
                    if (name !== "status") return;
                    failures = 0;
                    try {
                        update(JSON.parse(data));
                    } catch {
                        // Not a question: the next event or the look tells.
                    }
                });
            } else if (response.status === 404) {
                return gone();
            }
        } catch {
            // Dropped, or stopped (then the loop ends).
        }
        if (signal.aborted) return;
        failures += 1;
        try {
            const response = await api(path, { headers: { Accept: "application/json" }, signal });
            if (response.status === 404) return gone();
            if (response.status === 401) {
                stopFollowing();
                askForToken({ rejected: Boolean(store.get(keys.token)), then: () => follow(id), focus: false });
                return;
            }
            if (response.ok) update(await response.json());
        } catch {
            // Not reachable now: tried again below.
        }
        if (signal.aborted) return;
        await sleep(Math.min(5000, 1000 * 2 ** (failures - 1)));
    }
}

// The server no longer has the question (its retention ended, or it restarted).
function gone() {
    stopFollowing();
    store.set(keys.asking, null);
    assist.asked = null;
    setAsk("");
    askPart("", "Ask a person");
    sayAsk("Your question is no longer on the server. Ask again if you still need an answer.");
    updateActions();
}

async function loadAssist() {
    let response;
    try {
        response = await api("/v1/assist", { headers: { Accept: "application/json" } });
    } catch {
        return;
    }
    // 401: the token is asked for by loadVoices, and this is asked again after it.
    if (!response.ok) return;
    let info;
    try {
        info = await response.json();
    } catch {
        return;
    }
    assist.loaded = true;
    assist.enabled = info.enabled === true;
    assist.answerTimeout = Number(info.answer_timeout_seconds) || assist.answerTimeout;
    document.body.dataset.assist = assist.enabled ? "on" : "off";
    updateActions();
    await resumeAsking();
}

// A question that was waiting when the page was left or reloaded.
async function resumeAsking() {
    const kept = store.json(keys.asking, null);
    if (!kept?.id || assist.asked) return;
    let response;
    try {
        response = await api(`/v1/assist/${encodeURIComponent(kept.id)}`, { headers: { Accept: "application/json" } });
    } catch {
        return;
    }
    if (response.status === 404) {
        store.set(keys.asking, null);
        return;
    }
    if (!response.ok) return;
    let question;
    try {
        question = await response.json();
    } catch {
        return;
    }
    const offset = clockOffset(response);
    assist.asked = { id: question.id, question: question.question, expiresAt: expiresAt(question, offset) };
    // "No photo yet" would be wrong: the photo was sent (removed, which is not announced).
    if (!state.shown && !state.describing) $("description").replaceChildren();
    if (question.status === "waiting") {
        waiting(question, offset, "Your question is still waiting for an answer.");
        follow(question.id);
    } else {
        update(question);
    }
}

// ---- Recent descriptions ----------------------------------------------------

function remember(shown, photo) {
    const id = `${Date.now()}`;
    const entry = { id, text: shown.text, allText: shown.allText, usable: shown.usable, at: new Date().toISOString() };
    if (shown.kind) entry.kind = shown.kind;
    const recent = [entry, ...store.json(keys.recent, [])].slice(0, recentLimit);
    store.set(keys.recent, JSON.stringify(recent));
    state.photos.set(id, photo);
    renderRecent();
}

function renderRecent() {
    const recent = store.json(keys.recent, []);
    const items = recent.map((entry) => {
        const at = new Date(entry.at);
        const when = at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
        const item = document.createElement("li");
        const meta = document.createElement("p");
        meta.className = "meta";
        const time = document.createElement("time");
        time.dateTime = entry.at;
        time.textContent = when;
        meta.append(time);
        const text = document.createElement("p");
        text.className = "text";
        text.textContent = entry.text;
        const button = document.createElement("button");
        button.type = "button";
        button.className = "button";
        const hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = `, the ${entry.kind === "answer" ? "answer" : "description"} from ${when}`;
        button.append("Show again", hidden);
        button.addEventListener("click", () => {
            stopSpeech();
            showError(null);
            $("text-section").hidden = true;
            const photo = state.photos.get(entry.id) ?? null;
            preview(photo);
            show({ text: entry.text, usable: entry.usable, allText: entry.allText, verbosity: "" }, photo, { recall: true });
            $("description-heading").focus();
        });
        item.append(meta, text, button);
        return item;
    });
    $("recent").replaceChildren(...items);
    $("recent-empty").hidden = recent.length > 0;
    $("clear-recent").hidden = recent.length === 0;
}

$("clear-recent").addEventListener("click", () => {
    store.set(keys.recent, null);
    state.photos.clear();
    renderRecent();
    $("recent-heading").focus();
    setStatus("Recent descriptions cleared.");
});

// ---- Settings ---------------------------------------------------------------

function saveSettings() {
    store.set(keys.settings, JSON.stringify(settings));
}

async function loadVoices() {
    let response;
    try {
        response = await api("/v1/voices");
    } catch {
        return;
    }
    if (response.status === 401) {
        // Asked at once, before any photo is taken; the field is the first
        // thing in the page's main part, so focus is left where it was.
        askForToken({ rejected: Boolean(store.get(keys.token)), then: null, focus: false });
        return;
    }
    if (!response.ok) return;
    const { voices = [] } = await response.json();
    const select = $("voice");
    const options = voices.map((voice) => {
        const option = document.createElement("option");
        option.value = voice.name;
        option.textContent = voice.description ? `${voice.name}: ${voice.description}` : voice.name;
        return option;
    });
    select.replaceChildren(select.options[0], ...options);
    select.value = voices.some((voice) => voice.name === settings.voice) ? settings.voice : "";
}

$("auto-speak").checked = settings.autoSpeak;
$("auto-speak").addEventListener("change", () => {
    settings.autoSpeak = $("auto-speak").checked;
    saveSettings();
});

$("voice").addEventListener("change", () => {
    settings.voice = $("voice").value;
    saveSettings();
});

$("rate").value = settings.rate ?? "";
$("rate").addEventListener("change", () => {
    const field = $("rate");
    const value = field.value.trim();
    const rate = Number(value);
    if (value === "" || (Number.isInteger(rate) && rate >= 80 && rate <= 900)) {
        settings.rate = value === "" ? null : rate;
        field.removeAttribute("aria-invalid");
        $("rate-hint").textContent = "Leave empty for the voice's own speed.";
        saveSettings();
    } else {
        field.setAttribute("aria-invalid", "true");
        $("rate-hint").textContent = "Enter a whole number from 80 to 900, or leave it empty. The speed was not changed.";
    }
});

$("verbosity").value = settings.verbosity;
$("verbosity").addEventListener("change", () => {
    settings.verbosity = $("verbosity").value;
    saveSettings();
});

// ---- Start ------------------------------------------------------------------

tokenKept();
renderRecent();
updateActions();
loadVoices();
loadAssist();
