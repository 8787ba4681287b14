// Describer's web app: take or choose a photo, hear its description.
//
// Plain JavaScript with no framework and nothing fetched from elsewhere.
// It calls the server's own API, /v1/describe, /v1/speak and /v1/voices,
// with the API token when the server asks for one. Everything it remembers
// (settings, the token, recent descriptions) stays in this browser's
// localStorage; photos are kept in memory only, never stored.

const $ = (id) => document.getElementById(id);

const keys = { token: "describer.token", settings: "describer.settings", recent: "describer.recent" };
const recentLimit = 10;

// The largest photo the server takes; index.html carries it.
const maxUploadBytes =
    Number(document.querySelector('meta[name="describer-max-upload-bytes"]')?.content) || 20 * 1024 * 1024;
// A photo larger than that is made smaller, to at most this many pixels on
// its longer side: still plenty for reading small print.
const shrinkToSide = 4096;

// localStorage can be missing or refuse to write (private browsing, a full
// disk); the app then works but forgets on reload.
const store = {
    get(key) {
        try {
            return localStorage.getItem(key);
        } catch {
            return null;
        }
    },
    set(key, value) {
        try {
            if (value === null) localStorage.removeItem(key);
            else localStorage.setItem(key, value);
        } catch {
            // Not remembered; nothing else to do.
        }
    },
    json(key, fallback) {
        try {
            return JSON.parse(this.get(key)) ?? fallback;
        } catch {
            return fallback;
        }
    },
};

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

// Puts the description in the live region: screen readers announce it.
function writeDescription(text) {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    $("description").replaceChildren(paragraph);
}

function updateActions() {
    const shown = state.shown;
    const failed = document.body.dataset.state === "error";
    $("speak").hidden = !shown || failed;
    $("repeat").hidden = !shown || failed;
    $("more-detail").hidden = !shown || failed || !shown.usable || shown.verbosity === "detailed" || !state.photo;
    $("read-text").hidden = !shown || failed || !shown.allText;
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
function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    const token = store.get(keys.token);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return fetch(path, { ...options, headers, cache: "no-store" });
}

async function errorOf(response) {
    try {
        const body = await response.json();
        if (body?.error?.message) return { code: body.error.code, message: body.error.message };
    } catch {
        // Not our JSON: a proxy's page, say.
    }
    return { code: "", message: `the server answered ${response.status}` };
}

function sentence(text) {
    const trimmed = text.trim();
    const capitalised = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

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
    $("token-explanation").textContent = rejected
        ? "The access token kept on this device was not accepted. Enter the server's access token again."
        : "This Describer server needs its access token. Enter it once: it is kept on this device only.";
    $("token-section").hidden = false;
    $("token-input").value = "";
    $("token-input").removeAttribute("aria-invalid");
    $("token-error").textContent = "";
    if (focus) $("token-input").focus();
}

function tokenKept() {
    $("forget-token").hidden = !store.get(keys.token);
}

$("token-form").addEventListener("submit", async (event) => {
    // Handled here, so the token is never sent as a form.
    event.preventDefault();
    const field = $("token-input");
    const token = field.value.trim();
    if (!token) return;
    const previous = store.get(keys.token);
    store.set(keys.token, token);
    // Tried at once, so a mistyped token is said to be wrong here, where it
    // was typed, not after the next photo.
    let response = null;
    try {
        response = await api("/v1/voices");
    } catch {
        // The server cannot be reached: keep the token; a photo will tell.
    }
    if (response?.status === 401) {
        store.set(keys.token, previous);
        field.setAttribute("aria-invalid", "true");
        $("token-error").textContent = "That token was not accepted. Check it, and enter it again.";
        field.focus();
        return;
    }
    field.value = "";
    field.removeAttribute("aria-invalid");
    $("token-error").textContent = "";
    $("token-section").hidden = true;
    tokenKept();
    setStatus("Token saved.");
    const then = state.afterToken;
    state.afterToken = null;
    loadVoices();
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
    show({ text: description.spoken_text, usable: description.usable, allText, verbosity }, photo);
}

// Shows a description (new, or brought back from the recent ones).
function show(shown, photo, { recall = false } = {}) {
    state.shown = shown;
    state.photo = photo;
    setStatus("");
    setState(shown.usable ? "described" : "refused");
    writeDescription(shown.text);
    performance.mark("describer:description-shown");
    updateActions();
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

// ---- Recent descriptions ----------------------------------------------------

function remember(shown, photo) {
    const id = `${Date.now()}`;
    const entry = { id, text: shown.text, allText: shown.allText, usable: shown.usable, at: new Date().toISOString() };
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
        hidden.textContent = `, the description from ${when}`;
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
