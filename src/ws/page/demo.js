// compact-asr demo page: microphone -> AudioWorklet (16 kHz 16-bit PCM) -> WebSocket
// (vosk-server's protocol) -> partial and final transcripts on the page.
//
// State is mirrored in `window.demo.state` (phase, finals, partial, error, close code) so a
// test driving the page through the DevTools protocol can read it without scraping.
'use strict';

const TARGET_RATE = 16000;
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

const state = { phase: 'idle', finals: [], partial: '', error: '', closeCode: null };
let session = null;

function show() {
  $('partial').textContent = state.partial;
  $('toggle').textContent = session ? 'Stop' : 'Start';
  $('toggle').disabled = state.phase === 'starting' || state.phase === 'stopping';
}

function status(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function addFinal(text) {
  if (!text) return;
  state.finals.push(text);
  const line = document.createElement('p');
  line.textContent = text;
  $('finals').appendChild(line);
  document.title = 'compact-asr: ' + state.finals.join(' ');
}

/// One server message: {"partial"}, {"text"}, {"alternatives"} or {"error"}.
function onReply(event) {
  let reply;
  try {
    reply = JSON.parse(event.data);
  } catch (e) {
    status('unreadable reply: ' + event.data, true);
    return;
  }
  if (typeof reply.partial === 'string') {
    state.partial = reply.partial;
  } else if (typeof reply.text === 'string') {
    addFinal(reply.text);
    state.partial = '';
  } else if (Array.isArray(reply.alternatives) && reply.alternatives.length > 0) {
    addFinal(reply.alternatives[0].text);
    state.partial = '';
  } else if (typeof reply.error === 'string') {
    state.error = reply.error;
    status('server: ' + reply.error, true);
  }
  show();
}

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = params.get('token');
  const query = token ? '?token=' + encodeURIComponent(token) : '';
  return scheme + '//' + location.host + '/' + query;
}

function opened(socket) {
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error('cannot connect to ' + socket.url));
  });
}

async function start() {
  if (session) return;
  state.phase = 'starting';
  state.error = '';
  state.closeCode = null;
  show();
  status('Connecting…');
  const socket = new WebSocket(socketUrl());
  socket.binaryType = 'arraybuffer';
  const current = { socket, media: null, context: null, node: null };
  session = current;
  socket.onmessage = onReply;
  socket.onclose = (event) => {
    state.closeCode = event.code;
    state.phase = 'closed';
    if (!state.error) status('Stopped (' + event.code + (event.reason ? ': ' + event.reason : '') + ').');
    teardown(current);
    show();
  };
  try {
    await opened(socket);
    socket.send(JSON.stringify({ config: { sample_rate: TARGET_RATE, words: true } }));
    // Raw audio: the server does its own feature normalisation; browser clean-ups blur speech.
    current.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    current.context = new AudioContext();
    await current.context.audioWorklet.addModule('pcm-worklet.js');
    const source = current.context.createMediaStreamSource(current.media);
    const node = new AudioWorkletNode(current.context, 'pcm16-processor', {
      processorOptions: { targetRate: TARGET_RATE, chunkMs: 100 },
    });
    current.node = node;
    node.port.onmessage = (event) => {
      const { pcm, level, last } = event.data;
      $('level').style.width = Math.min(100, Math.round(Math.sqrt(level) * 180)) + '%';
      if (socket.readyState !== WebSocket.OPEN) return;
      if (pcm.byteLength > 0) socket.send(pcm);
      if (last) socket.send('{"eof" : 1}');
    };
    // A muted path to the output keeps the graph (and so the worklet) running everywhere.
    const mute = current.context.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(current.context.destination);
    await current.context.resume();
    state.phase = 'listening';
    status('Listening at ' + current.context.sampleRate + ' Hz, sending ' + TARGET_RATE + ' Hz.');
  } catch (err) {
    state.error = String(err.message || err);
    status(state.error, true);
    socket.close();
    teardown(current);
  }
  show();
}

/// Sends the last samples and eof; the server answers with the final result and closes.
function stop() {
  const current = session;
  if (!current || state.phase !== 'listening') return;
  state.phase = 'stopping';
  status('Finishing…');
  if (current.media) current.media.getTracks().forEach((track) => track.stop());
  current.node.port.postMessage('flush');
  show();
}

function teardown(current) {
  if (current.media) current.media.getTracks().forEach((track) => track.stop());
  if (current.context && current.context.state !== 'closed') current.context.close();
  $('level').style.width = '0%';
  if (session === current) session = null;
}

$('toggle').addEventListener('click', () => (session ? stop() : start()));
window.demo = { state, start, stop };
show();
if (params.get('autostart') === '1') start();
