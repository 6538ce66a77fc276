// AudioWorklet processor: the microphone at the context's rate in, 16-bit little-endian
// mono PCM at the target rate (16 kHz) out, in chunks of about 100 ms, each with its level.
//
// Why here and not in the page: an AudioWorklet runs on the audio thread, so no sample is
// lost while the page is busy. Downsampling low-passes first (a windowed-sinc FIR below the
// target's Nyquist frequency), so speech above 8 kHz does not fold back into the band the
// model hears, then interpolates linearly between the filtered samples.

const TAPS = 63;

class Pcm16Processor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 16000;
    this.step = sampleRate / this.targetRate; // input samples per output sample
    this.chunk = Math.round(this.targetRate * (opts.chunkMs || 100) / 1000);
    this.out = new Int16Array(this.chunk);
    this.filled = 0;
    this.sumSquares = 0;
    // Low-pass only when downsampling; cutoff at 90 % of the target's Nyquist frequency.
    this.taps = this.step > 1 ? lowPass(0.45 / this.step) : null;
    this.history = new Float32Array(TAPS);
    this.head = 0;
    this.previous = 0; // last filtered sample
    this.position = 0; // next output's position, in input samples after `previous`
    this.port.onmessage = (event) => {
      if (event.data === 'flush') this.flush(true);
    };
  }

  /// One input sample through the FIR.
  filter(x) {
    if (!this.taps) return x;
    this.history[this.head] = x;
    let y = 0;
    let i = this.head;
    for (let k = 0; k < TAPS; k++) {
      y += this.taps[k] * this.history[i];
      i = i === 0 ? TAPS - 1 : i - 1;
    }
    this.head = (this.head + 1) % TAPS;
    return y;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const channel = input[0];
    for (let n = 0; n < channel.length; n++) {
      const current = this.filter(channel[n]);
      // Output samples between the previous filtered sample and this one.
      while (this.position <= 1) {
        const value = this.previous + (current - this.previous) * this.position;
        this.push(value);
        this.position += this.step;
      }
      this.position -= 1;
      this.previous = current;
    }
    return true;
  }

  push(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.sumSquares += clamped * clamped;
    this.out[this.filled++] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    if (this.filled === this.chunk) this.flush(false);
  }

  /// Posts the samples so far (all of them when `last`) with their RMS level.
  flush(last) {
    const count = this.filled;
    const pcm = this.out.slice(0, count).buffer;
    const level = count > 0 ? Math.sqrt(this.sumSquares / count) : 0;
    this.port.postMessage({ pcm, level, last }, [pcm]);
    this.filled = 0;
    this.sumSquares = 0;
  }
}

/// A Hann-windowed sinc low-pass with cutoff `fc` (cycles per input sample), unity gain.
function lowPass(fc) {
  const taps = new Float32Array(TAPS);
  const middle = (TAPS - 1) / 2;
  let sum = 0;
  for (let k = 0; k < TAPS; k++) {
    const t = k - middle;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / (TAPS - 1));
    taps[k] = sinc * hann;
    sum += taps[k];
  }
  for (let k = 0; k < TAPS; k++) taps[k] /= sum;
  return taps;
}

registerProcessor('pcm16-processor', Pcm16Processor);
