// What the asker's page (app.js) and the helper's page (review.js) share:
// the device's storage, API calls with a token, the server's errors, and
// reading a text/event-stream with fetch().
//
// EventSource cannot send an Authorization header, and a token must never
// be put in an address, so the streams are read with fetch() and parsed here.

export const $ = (id) => document.getElementById(id);

// localStorage can be missing or refuse to write (private browsing, a full
// disk); the page then works but forgets on reload.
export const store = {
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

// The token form, which both pages have (#token-section): shown with its
// explanation, and emptied of what was typed before.
export function showTokenForm(explanation, { focus = true } = {}) {
    $("token-explanation").textContent = explanation;
    $("token-section").hidden = false;
    $("token-input").value = "";
    $("token-input").removeAttribute("aria-invalid");
    $("token-error").textContent = "";
    if (focus) $("token-input").focus();
}

// Keeps the token typed in the form under `key`, unless `probe()` (a request
// made with it) answers 401: then the one kept before stays, and the form
// says so where the token was typed. Answers whether it was taken. A server
// that cannot be reached keeps it: the next request will tell.
export async function takeToken(key, probe) {
    const field = $("token-input");
    const token = field.value.trim();
    if (!token) return false;
    const previous = store.get(key);
    store.set(key, token);
    let response = null;
    try {
        response = await probe();
    } catch {
        // Not reachable: kept.
    }
    if (response?.status === 401) {
        store.set(key, previous);
        field.setAttribute("aria-invalid", "true");
        $("token-error").textContent = "That token was not accepted. Check it, and enter it again.";
        field.focus();
        return false;
    }
    field.value = "";
    field.removeAttribute("aria-invalid");
    $("token-error").textContent = "";
    $("token-section").hidden = true;
    return true;
}

// A function making requests to the server with the token kept under
// `tokenKey`, when one is kept. The token goes in a header only.
export function apiWith(tokenKey) {
    return (path, options = {}) => {
        const headers = new Headers(options.headers || {});
        const token = store.get(tokenKey);
        if (token) headers.set("Authorization", `Bearer ${token}`);
        return fetch(path, { ...options, headers, cache: "no-store" });
    };
}

// The server's {"error": {"code", "message"}}, or a stand-in for any other body.
export async function errorOf(response) {
    try {
        const body = await response.json();
        if (body?.error?.message) return { code: body.error.code, message: body.error.message };
    } catch {
        // Not our JSON: a proxy's page, say.
    }
    return { code: "", message: `the server answered ${response.status}` };
}

export function sentence(text) {
    const trimmed = text.trim();
    const capitalised = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

// "10 seconds", "1 minute", "5 minutes", "2 hours": for a span the server gave in seconds.
export function duration(seconds) {
    const plural = (count, unit) => `${count} ${unit}${count === 1 ? "" : "s"}`;
    if (seconds < 90) return plural(Math.max(0, Math.round(seconds)), "second");
    if (seconds < 90 * 60) return plural(Math.round(seconds / 60), "minute");
    return plural(Math.round(seconds / 3600), "hour");
}

// "12:03": a time today, as this device writes times.
export function clock(date) {
    return date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

// How far this device's clock is behind the server's, in milliseconds,
// from a response's Date header (to a second); 0 when it has none.
export function clockOffset(response) {
    const date = Date.parse(response.headers.get("Date") || "");
    return Number.isNaN(date) ? 0 : date - Date.now();
}

// Reads a text/event-stream response to its end, calling onEvent(name, data)
// for each event (the spec's parsing: "field: value" lines, events ended
// by a blank line, ":" comments ignored). Resolves when the stream ends;
// rejects when it breaks or the signal aborts it.
export async function readEvents(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let name = "";
    let data = [];
    const line = (text) => {
        if (text === "") {
            if (data.length > 0) onEvent(name || "message", data.join("\n"));
            name = "";
            data = [];
            return;
        }
        if (text.startsWith(":")) return;
        const colon = text.indexOf(":");
        const field = colon === -1 ? text : text.slice(0, colon);
        let value = colon === -1 ? "" : text.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
    };
    for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        // A lone "\r" at the end may be the first half of "\r\n": kept for the next chunk.
        const lines = buffer.split(/\r\n|\n|\r(?!$)/);
        buffer = lines.pop();
        for (const text of lines) line(text);
    }
}

// The wait before reconnecting a dropped stream for the nth time in a row:
// 1, 2, 4, 8, then 15 seconds, never more.
export function backoff(attempt) {
    return Math.min(15000, 1000 * 2 ** Math.max(0, attempt));
}

export const sleep = (milliseconds) => new Promise((resolve) => setTimeout(resolve, milliseconds));
