// Holos recorder: records a session in the browser and sends it in pieces as it goes
// (templates/sessions/recording.html, sessions/views/recordings.py).
//
// Every piece ("chunk") must be a complete audio file the server can decode on its own,
// so each one comes from a MediaRecorder of its own: every data-chunk-seconds the running
// recorder is stopped and a new one started on the same microphone stream. (A timeslice
// would give fragments that only decode after the first one.) Pieces wait in an ordered
// queue and are sent one at a time; a lost connection or a server error keeps them and
// retries with backoff, and the server answers a repeated piece without storing it twice.
// The stop form is submitted only once every piece has arrived.
(function () {
  "use strict";

  var root = document.getElementById("recorder");
  if (!root) return;

  var MIME_TYPES = [
    "audio/webm;codecs=opus",
    "audio/ogg;codecs=opus",
    "audio/webm",
    "audio/ogg",
    "audio/mp4",
  ];
  var AUDIO_BITS_PER_SECOND = 64000; // plenty for speech; keeps each piece small
  var MAX_BACKOFF_SECONDS = 30;
  var LEVEL_GAIN = 4; // speech's RMS is roughly 0.02–0.2; this puts talk mid-meter
  var LEVEL_FALL = 0.85; // the bar falls back smoothly instead of flickering

  function number(name, fallback) {
    var value = parseFloat(root.getAttribute("data-" + name));
    return isFinite(value) ? value : fallback;
  }
  function msg(name) {
    return root.getAttribute("data-msg-" + name) || "";
  }
  function part(name) {
    return root.querySelector("[data-recorder-" + name + "]");
  }

  var chunkUrl = root.getAttribute("data-chunk-url");
  var chunkSeconds = Math.max(1, number("chunk-seconds", 10));
  var maxSeconds = number("max-seconds", 3 * 60 * 60);
  var nextSeq = Math.max(0, Math.floor(number("next-seq", 0)));

  var statusEl = part("status");
  var timerEl = part("timer");
  var levelEl = part("level");
  var queueEl = part("queue");
  var startBtn = part("start");
  var pauseBtn = part("pause");
  var resumeBtn = part("resume");
  var stopForm = part("stop-form");
  var stopBtn = part("stop");
  var csrfInput = stopForm && stopForm.querySelector("input[name=csrfmiddlewaretoken]");

  // idle → recording ⇄ paused → stopping → (the stop form is submitted)
  // "ended": the limit was reached or the server refused more; only Stop remains.
  var state = "idle";
  var stream = null;
  var mimeType = "";
  var recorder = null; // the MediaRecorder of the piece being recorded
  var rotateTimer = null;
  var openRecorders = 0; // started recorders whose "stop" event has not come yet

  var recordedBefore = number("recorded-seconds", 0); // seconds in earlier stretches
  var stretchStartedAt = 0; // performance.now() when the current stretch began
  var clockTimer = null;

  var audioContext = null;
  var analyser = null;
  var sourceNode = null;
  var samples = null;
  var levelFrame = 0;
  var level = 0;

  var queue = []; // [{seq, blob}] in order; queue[0] is being (or about to be) sent
  var sending = false;
  var failures = 0;
  var retryTimer = null;
  var leaving = false;

  // --- Display ----------------------------------------------------------------------

  function clock(seconds) {
    var total = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var secs = total % 60;
    var ss = (secs < 10 ? "0" : "") + secs;
    if (hours) return hours + ":" + (minutes < 10 ? "0" : "") + minutes + ":" + ss;
    return minutes + ":" + ss;
  }

  function recordedSeconds() {
    var running = state === "recording" ? (performance.now() - stretchStartedAt) / 1000 : 0;
    return recordedBefore + running;
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("recorder-error", !!isError);
  }

  function showButtons() {
    startBtn.hidden = state !== "idle";
    pauseBtn.hidden = state !== "recording";
    resumeBtn.hidden = state !== "paused";
    stopBtn.disabled = state === "stopping";
    root.setAttribute("data-state", state);
  }

  function showTime() {
    var seconds = recordedSeconds();
    timerEl.textContent = clock(seconds);
    if (state === "recording" && seconds >= maxSeconds) reachLimit();
  }

  var signedOut = false; // the last attempt was sent to the sign-in page

  function showQueue() {
    var waiting = queue.length;
    if (failures > 0 && waiting > 0) {
      var waitingText = msg(waiting === 1 ? "waiting-one" : "waiting-other");
      var reason = signedOut ? msg("signed-out") : msg("offline");
      queueEl.textContent = reason + " " + waitingText.replace("{count}", waiting);
      queueEl.classList.add("recorder-offline");
    } else {
      queueEl.textContent = "";
      queueEl.classList.remove("recorder-offline");
    }
  }

  // --- Level meter ------------------------------------------------------------------

  function connectMeter() {
    var AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass || !levelEl) return;
    try {
      if (!audioContext) {
        audioContext = new AudioContextClass();
        analyser = audioContext.createAnalyser();
        analyser.fftSize = 1024;
        samples = new Float32Array(analyser.fftSize);
      }
      if (sourceNode) sourceNode.disconnect();
      sourceNode = audioContext.createMediaStreamSource(stream);
      sourceNode.connect(analyser); // not to the speakers: no echo
      if (audioContext.state === "suspended") audioContext.resume();
    } catch (error) {
      analyser = null; // the meter is a nicety; recording goes on without it
    }
  }

  function drawLevel() {
    levelFrame = 0;
    if (state !== "recording" || !analyser) return;
    analyser.getFloatTimeDomainData(samples);
    var sum = 0;
    for (var i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
    var rms = Math.sqrt(sum / samples.length);
    level = Math.max(Math.min(1, rms * LEVEL_GAIN), level * LEVEL_FALL);
    levelEl.value = level;
    levelFrame = requestAnimationFrame(drawLevel);
  }

  function startMeter() {
    if (!levelFrame && analyser) levelFrame = requestAnimationFrame(drawLevel);
  }

  function stopMeter() {
    if (levelFrame) cancelAnimationFrame(levelFrame);
    levelFrame = 0;
    level = 0;
    if (levelEl) levelEl.value = 0;
  }

  // --- Microphone and recorders -----------------------------------------------------

  function chooseMimeType() {
    if (typeof MediaRecorder.isTypeSupported !== "function") return "";
    for (var i = 0; i < MIME_TYPES.length; i++) {
      if (MediaRecorder.isTypeSupported(MIME_TYPES[i])) return MIME_TYPES[i];
    }
    return ""; // the browser's own default
  }

  function streamIsLive() {
    return (
      stream &&
      stream.getAudioTracks().some(function (track) {
        return track.readyState === "live";
      })
    );
  }

  function openMicrophone() {
    if (streamIsLive()) return Promise.resolve(stream);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error("getUserMedia is not available"));
    }
    return navigator.mediaDevices.getUserMedia({ audio: true }).then(function (opened) {
      stream = opened;
      stream.getAudioTracks().forEach(function (track) {
        track.addEventListener("ended", microphoneLost);
      });
      connectMeter();
      return stream;
    });
  }

  function closeMicrophone() {
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.removeEventListener("ended", microphoneLost);
        track.stop();
      });
    }
    stream = null;
    if (sourceNode) sourceNode.disconnect();
    sourceNode = null;
    if (audioContext) audioContext.close();
    audioContext = null;
    analyser = null;
  }

  function microphoneLost() {
    // Unplugged, or access revoked: keep what was recorded and wait in Paused.
    if (state !== "recording") return;
    pause();
    setStatus(msg("no-microphone"), true);
  }

  // One recorder per piece. Its seq is fixed when it starts, so pieces keep their order
  // however the browser schedules the events of stopped recorders.
  function startRecorder() {
    var options = { audioBitsPerSecond: AUDIO_BITS_PER_SECOND };
    if (mimeType) options.mimeType = mimeType;
    var own = new MediaRecorder(stream, options);
    var seq = nextSeq++;
    var parts = [];
    own.addEventListener("dataavailable", function (event) {
      if (event.data && event.data.size > 0) parts.push(event.data);
    });
    own.addEventListener("stop", function () {
      openRecorders--;
      if (parts.length) {
        var type = own.mimeType || mimeType || parts[0].type || "application/octet-stream";
        enqueue(seq, new Blob(parts, { type: type }));
      } else {
        afterQueueChange();
      }
    });
    own.addEventListener("error", function () {
      if (own === recorder) microphoneLost();
    });
    own.start(); // no timeslice: the whole piece arrives, decodable, when it stops
    openRecorders++;
    recorder = own;
    // A piece ends at the maximum length, so the last one is not refused as too long.
    var left = Math.min(chunkSeconds, maxSeconds - recordedSeconds());
    rotateTimer = setTimeout(rotate, Math.max(0.1, left) * 1000);
  }

  function stopRecorder() {
    clearTimeout(rotateTimer);
    rotateTimer = null;
    var old = recorder;
    recorder = null;
    // A recorder that went inactive by itself (its track ended) has fired "stop" already
    // or is about to; either way its "stop" handler counts it out.
    if (old && old.state !== "inactive") old.stop();
  }

  function rotate() {
    if (state !== "recording") return;
    if (recordedSeconds() >= maxSeconds - 0.05) {
      reachLimit();
      return;
    }
    stopRecorder();
    startRecorder();
  }

  function beginStretch() {
    state = "recording";
    stretchStartedAt = performance.now();
    startRecorder();
    startMeter();
    clearInterval(clockTimer);
    clockTimer = setInterval(showTime, 250);
    setStatus(msg("recording"));
    showButtons();
    showTime();
  }

  function endStretch(nextState) {
    recordedBefore = recordedSeconds();
    state = nextState;
    stopRecorder();
    stopMeter();
    clearInterval(clockTimer);
    clockTimer = null;
    timerEl.textContent = clock(recordedBefore);
  }

  // --- Buttons ----------------------------------------------------------------------

  function start() {
    if (state !== "idle") return;
    startBtn.disabled = true;
    openMicrophone().then(
      function () {
        startBtn.disabled = false;
        if (state !== "idle") return;
        mimeType = chooseMimeType();
        try {
          beginStretch();
        } catch (error) {
          state = "idle";
          setStatus(msg("unsupported"), true);
          showButtons();
          return;
        }
        pauseBtn.focus();
      },
      function () {
        startBtn.disabled = false;
        setStatus(msg("no-microphone"), true);
      }
    );
  }

  function pause() {
    if (state !== "recording") return;
    endStretch("paused");
    setStatus(msg("paused"));
    showButtons();
    resumeBtn.focus();
  }

  function resume() {
    if (state !== "paused") return;
    resumeBtn.disabled = true;
    openMicrophone().then(
      function () {
        resumeBtn.disabled = false;
        if (state !== "paused") return;
        beginStretch();
        pauseBtn.focus();
      },
      function () {
        resumeBtn.disabled = false;
        setStatus(msg("no-microphone"), true);
      }
    );
  }

  function reachLimit() {
    endStretch("ended");
    closeMicrophone();
    setStatus(msg("limit"), true);
    showButtons();
    stopBtn.focus();
  }

  function refuse(message) {
    // The server will take no more of this recording (stopped elsewhere, too long).
    if (state === "recording" || state === "paused") {
      endStretch("ended");
      closeMicrophone();
      showButtons();
    }
    setStatus(message, true);
  }

  function stopAndSend(event) {
    if (state === "stopping") {
      event.preventDefault();
      return;
    }
    if (state === "idle" && !queue.length && !openRecorders) return; // nothing here to send
    event.preventDefault();
    if (state === "recording" || state === "paused") endStretch("stopping");
    state = "stopping";
    closeMicrophone();
    setStatus(msg("stopping"));
    showButtons();
    afterQueueChange();
  }

  // --- Sending ----------------------------------------------------------------------

  function urlFor(seq) {
    return chunkUrl.replace(/\/0\/$/, "/" + seq + "/");
  }

  function enqueue(seq, blob) {
    queue.push({ seq: seq, blob: blob });
    afterQueueChange();
  }

  function afterQueueChange() {
    showQueue();
    send();
    if (state === "stopping" && !queue.length && !openRecorders && !sending) {
      leaving = true;
      stopForm.submit(); // skips the "submit" event, so this handler does not run again
    }
  }

  // What became of one attempt: "stored", "refused" (with a message) or "retry".
  function upload(item) {
    return fetch(urlFor(item.seq), {
      method: "POST",
      body: item.blob,
      credentials: "same-origin",
      redirect: "manual", // signed out: a login page is not a stored piece
      headers: {
        "X-CSRFToken": csrfInput ? csrfInput.value : "",
        "Content-Type": item.blob.type || "application/octet-stream",
        Accept: "application/json",
      },
    }).then(
      function (response) {
        if (response.status === 200 || response.status === 201) {
          return response.json().then(
            function (body) {
              return body && body.seq === item.seq ? { outcome: "stored" } : { outcome: "retry" };
            },
            function () {
              return { outcome: "retry" };
            }
          );
        }
        if (response.status === 422) {
          return response.json().then(
            function (body) {
              return { outcome: "refused", code: body.code || "", error: body.error || "" };
            },
            function () {
              return { outcome: "retry" };
            }
          );
        }
        if (response.type === "opaqueredirect") {
          return { outcome: "retry", signedOut: true }; // to the sign-in page
        }
        return { outcome: "retry" }; // 5xx, a proxy's error page
      },
      function () {
        return { outcome: "retry" }; // the network
      }
    );
  }

  function send() {
    if (sending || retryTimer || !queue.length) return;
    sending = true;
    var item = queue[0];
    upload(item).then(function (result) {
      sending = false;
      signedOut = Boolean(result.signedOut);
      if (result.outcome === "retry") {
        failures++;
        var wait = Math.min(MAX_BACKOFF_SECONDS, Math.pow(2, failures - 1));
        retryTimer = setTimeout(function () {
          retryTimer = null;
          send();
        }, wait * 1000);
        showQueue();
        return;
      }
      queue.shift();
      failures = 0;
      if (result.outcome === "refused") {
        if (result.code === "stopped" || result.code === "too_long") {
          queue.length = 0; // nothing after this piece will be taken either
          if (state !== "stopping") refuse(result.error);
        } else if (result.code !== "empty") {
          // An empty piece (a pause right after a new piece began) is no loss.
          setStatus(result.error, true);
        }
      }
      afterQueueChange();
    });
  }

  function retryNow() {
    if (!retryTimer) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    send();
  }

  // --- Wiring -----------------------------------------------------------------------

  function warnBeforeLeaving(event) {
    if (leaving) return undefined;
    var unsent = queue.length > 0 || openRecorders > 0;
    if (state !== "recording" && state !== "stopping" && !unsent) return undefined;
    event.preventDefault();
    event.returnValue = msg("leave");
    return msg("leave");
  }

  if (!window.MediaRecorder || !window.Blob || !window.fetch) {
    setStatus(msg("unsupported"), true);
    startBtn.disabled = true;
    return;
  }

  startBtn.addEventListener("click", start);
  pauseBtn.addEventListener("click", pause);
  resumeBtn.addEventListener("click", resume);
  stopForm.addEventListener("submit", stopAndSend);
  window.addEventListener("beforeunload", warnBeforeLeaving);
  window.addEventListener("online", retryNow);

  setStatus(msg("ready"));
  showButtons();
  timerEl.textContent = clock(recordedBefore);
  if (recordedBefore >= maxSeconds) {
    state = "ended";
    setStatus(msg("limit"), true);
    showButtons();
  }
})();
