// Describer's helper page (/review): a person someone trusts sees the
// questions waiting for a person, each with its photo and the machine's own
// description, and answers in words.
//
// The helper's token is kept in this browser's localStorage under its own
// key and sent only in the Authorization header. The list follows
// GET /v1/assist/pending/events, read with fetch() (EventSource cannot send
// the header); photos are fetched with the token and shown from blob: URLs.
// The marks a helper may add (what is in the photo, its quality, its text)
// go with the answer as labels, for the machine to learn from.

import { $, apiWith, clock, errorOf, readEvents, sentence, showTokenForm, sleep, store, takeToken } from "./common.js";

const keys = { token: "describer.helper-token" };
const api = apiWith(keys.token);

const qualities = [
    ["", "Not sure"],
    ["usable", "Good enough"],
    ["dark", "Too dark"],
    ["blurry", "Blurred"],
    ["bright", "Too bright"],
    ["small", "Too small or too far"],
];

const state = {
    // The questions shown, by id: {question, element, photoURL}.
    questions: new Map(),
    // Questions whose answer is being sent from here, and those sent.
    sending: new Set(),
    sent: new Set(),
    // Stops following the list.
    following: null,
    // Whether the list arrived once since the page (or the token) was new.
    listed: false,
    // Numbers the form fields, whatever a question's id is made of.
    fields: 0,
};

function setState(name) {
    document.body.dataset.state = name;
}

// Says it politely; emptied first, so the same words are said again.
function say(text) {
    const region = $("status");
    if (region.textContent !== text) {
        region.textContent = text;
        return;
    }
    region.textContent = "";
    setTimeout(() => {
        region.textContent = text;
    }, 150);
}

// A new element with properties and children, never markup.
function element(tag, properties = {}, ...children) {
    const made = Object.assign(document.createElement(tag), properties);
    made.append(...children.filter((child) => child !== null && child !== undefined && child !== ""));
    return made;
}

// ---- The token ----------------------------------------------------------------

function askForToken({ rejected, focus = true }) {
    stopFollowing();
    clearQuestions();
    setState("token");
    $("forget-token").hidden = true;
    $("helper-name").hidden = true;
    $("questions-empty").textContent = "The questions show here once your helper token is saved.";
    showTokenForm(
        rejected
            ? "The helper token kept on this device was not accepted. Enter your helper token again."
            : "Enter the helper token you were given. Enter it once: it is kept on this device only.",
        { focus },
    );
}

$("token-form").addEventListener("submit", async (event) => {
    // Handled here, so the token is never sent as a form.
    event.preventDefault();
    // Tried at once, so a mistyped token is said to be wrong where it was typed.
    if (!(await takeToken(keys.token, () => api("/v1/assist/pending", { headers: { Accept: "application/json" } })))) return;
    $("forget-token").hidden = false;
    // The form is gone: the focus goes to the questions.
    $("questions-heading").focus();
    follow();
});

$("forget-token").addEventListener("click", () => {
    store.set(keys.token, null);
    askForToken({ rejected: false });
    say("The helper token was removed from this device.");
});

// ---- The questions ------------------------------------------------------------

function stopFollowing() {
    state.following?.abort();
    state.following = null;
}

// Follows the list of waiting questions. A dropped stream is followed by
// one look at the list (GET), then the stream again, after 1, 2, 4, 8 and
// then 15 seconds.
async function follow() {
    stopFollowing();
    const controller = new AbortController();
    state.following = controller;
    const signal = controller.signal;
    state.listed = false;
    setState("connecting");
    let failures = 0;
    let lost = false;
    const arrived = (pending) => {
        failures = 0;
        if (lost) {
            lost = false;
            say("Connected again.");
        }
        render(pending);
    };
    while (!signal.aborted) {
        try {
            const response = await api("/v1/assist/pending/events", { headers: { Accept: "text/event-stream" }, signal });
            if (response.status === 401) return askForToken({ rejected: true });
            if (response.ok && response.body) {
                await readEvents(response, (name, data) => {
                    if (name !== "pending") return;
                    try {
                        arrived(JSON.parse(data));
                    } catch {
                        // Not a list: the next event or the look tells.
                    }
                });
            }
        } catch {
            // Dropped, or stopped (then the loop ends).
        }
        if (signal.aborted) return;
        failures += 1;
        try {
            const response = await api("/v1/assist/pending", { headers: { Accept: "application/json" }, signal });
            if (response.status === 401) return askForToken({ rejected: true });
            if (response.ok) arrived(await response.json());
        } catch {
            // Not reachable now.
        }
        if (signal.aborted) return;
        if (failures >= 3 && !lost) {
            lost = true;
            setState("offline");
            say("The connection to the server was lost. Trying again…");
        }
        await sleep(Math.min(15000, 1000 * 2 ** (failures - 1)));
    }
}

function plural(count, one, many) {
    return count === 1 ? one : many.replace("#", String(count));
}

// The list as the server sent it: new questions are added at the end
// (oldest first), gone ones removed; those shown are left as they are, so
// nothing typed into them is lost.
function render(pending) {
    setState("live");
    if (pending.helper?.name) {
        $("helper-name").textContent = `You answer as ${pending.helper.name}.`;
        $("helper-name").hidden = false;
    }
    $("forget-token").hidden = false;
    $("questions-empty").textContent = "No questions are waiting. New ones appear here by themselves while this page is open.";
    const questions = Array.isArray(pending.questions) ? pending.questions : [];
    const waiting = new Set(questions.map((question) => question.id));
    const notes = [];
    for (const [id, shown] of state.questions) {
        // An answer being sent from here: its own response tells what happened.
        if (waiting.has(id) || state.sending.has(id)) continue;
        removeQuestion(id);
        if (!state.sent.has(id)) notes.push(goneNote(shown.question));
    }
    let added = 0;
    for (const question of questions) {
        const already = state.questions.get(question.id);
        if (already) showDraft(already, question.draft);
        if (already || state.sent.has(question.id)) continue;
        addQuestion(question);
        added += 1;
    }
    const count = state.questions.size;
    $("questions-empty").hidden = count > 0;
    document.body.dataset.questions = String(count);
    if (!state.listed) {
        state.listed = true;
        notes.push(count === 0 ? "No questions are waiting." : plural(count, "1 question is waiting.", "# questions are waiting."));
    } else if (added > 0) {
        notes.push(plural(added, "A new question is waiting.", "# new questions are waiting."));
    }
    if (notes.length > 0) say(notes.join(" "));
}

function goneNote(question) {
    const asked = clock(new Date(question.asked_at));
    if (Date.parse(question.expires_at) <= Date.now() + 1000) {
        return `The question from ${asked} ended: nobody answered it in time.`;
    }
    return `The question from ${asked} is no longer waiting: someone else answered it, or it was withdrawn.`;
}

function clearQuestions() {
    for (const id of [...state.questions.keys()]) removeQuestion(id);
    $("questions-empty").hidden = false;
    document.body.dataset.questions = "0";
}

// Removes a question; the focus, if it was in it, goes to the next
// question's heading or to the list's.
function removeQuestion(id) {
    const shown = state.questions.get(id);
    if (!shown) return;
    state.questions.delete(id);
    const hadFocus = shown.element.contains(document.activeElement);
    const next = shown.element.nextElementSibling;
    shown.element.remove();
    if (shown.photoURL) URL.revokeObjectURL(shown.photoURL);
    shown.removed = true;
    $("questions-empty").hidden = state.questions.size > 0;
    document.body.dataset.questions = String(state.questions.size);
    if (hadFocus) (next?.querySelector("h3") ?? $("questions-heading")).focus();
}

function percent(confidence) {
    return `${Math.round(Number(confidence) * 100)} %`;
}

// A group of large radio buttons: the choice, then the label, each a whole row.
function choices(name, options, checked) {
    return element(
        "div",
        { className: "choices" },
        ...options.map(([value, label]) => {
            const input = element("input", { type: "radio", name, value, checked: value === checked });
            return element("label", { className: "choice" }, input, element("span", { textContent: label }));
        }),
    );
}

function addQuestion(question) {
    state.fields += 1;
    const base = `question-${state.fields}`;
    const asked = new Date(question.asked_at);
    const shown = { question, base, element: null, photoURL: null, removed: false, drafted: false };

    const heading = element("h3", { id: `${base}-heading`, tabIndex: -1, textContent: `Question from ${clock(asked)}` });
    const ask = question.question
        ? element("p", { className: "asked" }, element("strong", { textContent: "They ask:" }), ` “${question.question}”`)
        : element("p", { className: "asked", textContent: "They did not type a question: say what is in the photo." });
    const until = element("p", { className: "hint", textContent: `Open until ${clock(new Date(question.expires_at))}.` });

    // The photo, with the machine's boxes numbered as in the list below.
    const image = element("img", { alt: "Their photo", className: "question-photo" });
    shown.frame = element("div", { className: "photo-frame" }, image);
    const photoNote = element("p", { className: "hint" });
    photoNote.hidden = true;
    // The machine's draft and what it found: filled in when the draft is there.
    shown.machine = element("div", { className: "machine" });
    shown.found = element("div", { className: "found" });

    const form = element("form", { className: "answer-form", method: "post", noValidate: true }, shown.found);
    form.append(
        element("h4", { textContent: "About the photo" }),
        element("fieldset", { className: "quality" }, element("legend", { textContent: "How good is the photo?" }), choices(`${base}-quality`, qualities, "")),
    );
    const textField = element("textarea", { id: `${base}-text`, rows: 3, maxLength: 2000 });
    textField.setAttribute("aria-describedby", `${base}-text-hint`);
    form.append(
        element(
            "div",
            { className: "field" },
            element("label", { htmlFor: textField.id, textContent: "Text in the photo (optional)" }),
            textField,
            element("p", { id: `${base}-text-hint`, className: "hint", textContent: "Type it as it is written, if there is any." }),
        ),
    );
    const answer = element("textarea", { id: `${base}-answer`, rows: 4, maxLength: 2000, required: true });
    answer.setAttribute("aria-describedby", `${base}-answer-hint ${base}-error`);
    const error = element("p", { id: `${base}-error`, className: "field-error" });
    error.setAttribute("role", "alert");
    // A camera's alert waits on a yes or a no: one press each.
    if (question.kind === "yes_no") {
        const quick = element("div", { className: "actions" });
        for (const word of ["Yes", "No"]) {
            const button = element("button", { type: "button", className: "button", textContent: word });
            button.addEventListener("click", () => {
                answer.value = word;
                send(shown, form, answer, error);
            });
            quick.append(button);
        }
        form.append(element("fieldset", { className: "quick-answer" }, element("legend", { textContent: "Answer yes or no" }), quick));
    }
    form.append(
        element(
            "div",
            { className: "field" },
            element("label", { htmlFor: answer.id, textContent: "Your answer" }),
            answer,
            element("p", {
                id: `${base}-answer-hint`,
                className: "hint",
                textContent: "Read aloud to them. Say what they asked about first, in plain words.",
            }),
        ),
        error,
        element("button", { type: "submit", className: "button primary", textContent: "Send the answer" }),
    );
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        send(shown, form, answer, error);
    });

    const article = element("article", { className: "question" }, heading, ask, until, shown.frame, photoNote, shown.machine, form);
    article.setAttribute("aria-labelledby", heading.id);
    article.dataset.id = question.id;
    shown.element = article;
    state.questions.set(question.id, shown);
    showDraft(shown, question.draft);
    $("questions").append(article);
    loadPhoto(shown, image, shown.frame, photoNote);
}

// The machine's draft: what it said, and what it found, each thing with a
// box on the photo and a choice (there, not there, can't tell). Shown once:
// a draft that arrives after the question (a later event) fills it in then.
function showDraft(shown, draft) {
    if (shown.drafted) return;
    shown.drafted = Boolean(draft);
    const base = shown.base;
    const said = [element("h4", { textContent: "What the machine said" })];
    if (draft?.spoken_text) said.push(element("p", { className: "draft", textContent: draft.spoken_text }));
    else said.push(element("p", { textContent: "The machine has not described this photo yet." }));
    if (draft && draft.usable === false) {
        const problems = Array.isArray(draft.problems) && draft.problems.length > 0 ? `: ${draft.problems.join(", ")}` : "";
        said.push(element("p", { textContent: `It found the photo hard to use${problems}.` }));
    }
    shown.machine.replaceChildren(...said);

    const objects = Array.isArray(draft?.objects) ? draft.objects : [];
    const clamp = (value) => Math.min(100, Math.max(0, Number(value) * 100));
    objects.forEach((object, index) => {
        const box = element("div", { className: "box" }, element("span", { textContent: String(index + 1) }));
        box.setAttribute("aria-hidden", "true");
        // Set through the CSS object model, which the page's policy allows (no style attribute in markup).
        box.style.left = `${clamp(object.box?.x)}%`;
        box.style.top = `${clamp(object.box?.y)}%`;
        box.style.width = `${clamp(object.box?.width)}%`;
        box.style.height = `${clamp(object.box?.height)}%`;
        shown.frame.append(box);
    });
    if (objects.length === 0) return;
    const hint = element("p", {
        id: `${base}-found-hint`,
        className: "hint",
        textContent: "Optional: mark each one as you see it in the photo. The numbers match the boxes on the photo.",
    });
    const groups = objects.map((object, index) => {
        const legend = element("legend", {
            textContent: `${index + 1}. ${object.label} (${percent(object.confidence)} sure): is it there?`,
        });
        const group = element(
            "fieldset",
            { className: "detection" },
            legend,
            choices(`${base}-object-${index}`, [["present", "Yes"], ["absent", "No"], ["", "Can't tell"]], ""),
        );
        group.dataset.label = object.label;
        group.setAttribute("aria-describedby", hint.id);
        return group;
    });
    shown.found.replaceChildren(element("h4", { textContent: "What the machine found" }), hint, ...groups);
}

async function loadPhoto(shown, image, frame, note) {
    const path = shown.question.photo_url || `/v1/assist/${encodeURIComponent(shown.question.id)}/photo`;
    try {
        const response = await api(path);
        if (!response.ok) throw new Error(String(response.status));
        const blob = await response.blob();
        if (shown.removed) return;
        shown.photoURL = URL.createObjectURL(blob);
        image.src = shown.photoURL;
    } catch {
        if (shown.removed) return;
        frame.hidden = true;
        note.textContent = "The photo could not be loaded. Reload the page to try again.";
        note.hidden = false;
    }
}

// The marks, as the server's labels: a label is present when any box of it
// was marked there, absent when boxes of it were marked not there and none there.
function labelsOf(form) {
    const present = new Set();
    const absent = new Set();
    for (const group of form.querySelectorAll("fieldset.detection")) {
        const mark = group.querySelector("input:checked")?.value;
        if (mark === "present") present.add(group.dataset.label);
        if (mark === "absent") absent.add(group.dataset.label);
    }
    for (const label of present) absent.delete(label);
    const labels = {};
    if (present.size > 0) labels.present = [...present];
    if (absent.size > 0) labels.absent = [...absent];
    const text = form.querySelector("textarea[id$='-text']").value.trim();
    if (text) labels.text = text;
    const quality = form.querySelector("fieldset.quality input:checked")?.value;
    if (quality) labels.quality = quality;
    return Object.keys(labels).length > 0 ? labels : null;
}

async function send(shown, form, answer, error) {
    const id = shown.question.id;
    if (state.sending.has(id)) return;
    const text = answer.value.trim();
    if (!text) {
        answer.setAttribute("aria-invalid", "true");
        error.textContent = "Write your answer first.";
        answer.focus();
        return;
    }
    answer.removeAttribute("aria-invalid");
    error.textContent = "";
    const body = { text };
    const labels = labelsOf(form);
    if (labels) body.labels = labels;
    state.sending.add(id);
    form.querySelector("button[type=submit]").textContent = "Sending…";
    let response;
    try {
        response = await api(`/v1/assist/${encodeURIComponent(id)}/answer`, {
            method: "POST",
            body: JSON.stringify(body),
            headers: { "Content-Type": "application/json", Accept: "application/json" },
        });
    } catch {
        response = null;
    }
    state.sending.delete(id);
    form.querySelector("button[type=submit]").textContent = "Send the answer";
    if (!response) {
        error.textContent = "The answer could not be sent: the server cannot be reached. Try again.";
        return;
    }
    if (response.ok) {
        state.sent.add(id);
        removeQuestion(id);
        say("Sent. Thank you: your answer is on its way to them.");
        return;
    }
    if (response.status === 401) {
        askForToken({ rejected: true });
        return;
    }
    if (response.status === 409 || response.status === 404) {
        state.sent.add(id);
        removeQuestion(id);
        say("Your answer was not sent: someone else answered this question first, or it ended.");
        return;
    }
    const problem = await errorOf(response);
    error.textContent = `The answer could not be sent: ${sentence(problem.message)}`;
    answer.focus();
}

// ---- Start ------------------------------------------------------------------

if (store.get(keys.token)) {
    $("forget-token").hidden = false;
    follow();
} else {
    askForToken({ rejected: false, focus: false });
}
