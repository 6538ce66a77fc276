//! WAV files (for `transcribe`, `eval` and tests) to mono f32 at the file's own rate.
//!
//! hound parses the container; this module only maps every integer width and float to
//! [-1, 1] and averages channels, so a WAV file and the same audio streamed as PCM give
//! the same samples.

use std::io::Cursor;
use std::path::Path;

use hound::{SampleFormat, WavReader};

use super::pcm::float_sample;
use super::{downmix_into, AudioError};

/// Mono audio decoded from a file, at the file's sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// Decodes a whole WAV file held in memory. 8/16/24/32-bit integer and 32-bit float PCM
/// with any number of channels are accepted; a truncated or corrupt file, or a NaN or
/// infinite float sample, is an error. Float samples are clamped to [-1, 1], as streamed
/// FLOAT32 is.
pub fn read_wav(bytes: &[u8]) -> Result<DecodedAudio, AudioError> {
    let mut reader = WavReader::new(Cursor::new(bytes))?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err(AudioError::Channels {
            channels: 0,
            max: u32::from(u16::MAX),
        });
    }
    let interleaved = match spec.sample_format {
        SampleFormat::Float => read_samples(&mut reader, float_sample)?,
        SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f64;
            read_samples(&mut reader, |v: i32, _| Ok((f64::from(v) * scale) as f32))?
        }
    };
    let channels = usize::from(spec.channels);
    if !interleaved.len().is_multiple_of(channels) {
        return Err(AudioError::Wav(hound::Error::FormatError(
            "data chunk ends inside a frame",
        )));
    }
    let mut samples = Vec::with_capacity(interleaved.len() / channels);
    downmix_into(&interleaved, channels, &mut samples);
    Ok(DecodedAudio {
        samples,
        sample_rate: spec.sample_rate,
    })
}

/// Every sample the data chunk declares, through `convert` (value, index); a data chunk cut
/// short is [`AudioError::TruncatedWav`] rather than hound's bare end-of-file error.
fn read_samples<S: hound::Sample>(
    reader: &mut WavReader<Cursor<&[u8]>>,
    convert: impl Fn(S, u64) -> Result<f32, AudioError>,
) -> Result<Vec<f32>, AudioError> {
    let declared = u64::from(reader.len());
    let mut out = Vec::new();
    for (index, sample) in reader.samples::<S>().enumerate() {
        match sample {
            Ok(value) => out.push(convert(value, index as u64)?),
            // Reading from memory, an I/O error can only mean the bytes ran out.
            Err(hound::Error::IoError(_)) => {
                return Err(AudioError::TruncatedWav {
                    declared,
                    present: out.len() as u64,
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Reads and decodes a WAV file from disk; see [`read_wav`].
pub fn read_wav_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    let bytes = std::fs::read(path).map_err(|source| AudioError::File {
        path: path.to_path_buf(),
        source,
    })?;
    read_wav(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hound::{WavSpec, WavWriter};

    fn spec(channels: u16, sample_rate: u32, bits: u16, format: SampleFormat) -> WavSpec {
        WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    fn wav_int(spec: WavSpec, samples: &[i32]) -> Vec<u8> {
        wav_bytes(spec, samples)
    }

    fn wav_float(spec: WavSpec, samples: &[f32]) -> Vec<u8> {
        wav_bytes(spec, samples)
    }

    fn wav_bytes<S: hound::Sample + Copy>(spec: WavSpec, samples: &[S]) -> Vec<u8> {
        let mut cursor = Cursor::new(Vec::new());
        let mut w = WavWriter::new(&mut cursor, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        cursor.into_inner()
    }

    #[test]
    fn reads_16_bit_mono() {
        let bytes = wav_int(
            spec(1, 16000, 16, SampleFormat::Int),
            &[0, 16384, -32768, 32767],
        );
        let audio = read_wav(&bytes).unwrap();
        assert_eq!(audio.sample_rate, 16000);
        assert_eq!(audio.samples, vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]);
    }

    #[test]
    fn reads_8_bit_24_bit_and_32_bit_int() {
        let a8 = read_wav(&wav_int(spec(1, 8000, 8, SampleFormat::Int), &[64, -128])).unwrap();
        assert_eq!(a8.samples, vec![0.5, -1.0]);
        assert_eq!(a8.sample_rate, 8000);
        let a24 = read_wav(&wav_int(
            spec(1, 16000, 24, SampleFormat::Int),
            &[1 << 22, -(1 << 23)],
        ))
        .unwrap();
        assert_eq!(a24.samples, vec![0.5, -1.0]);
        let a32 = read_wav(&wav_int(
            spec(1, 16000, 32, SampleFormat::Int),
            &[i32::MIN, 1 << 29],
        ))
        .unwrap();
        assert_eq!(a32.samples, vec![-1.0, 0.25]);
    }

    #[test]
    fn reads_float_stereo_as_mean() {
        let bytes = wav_float(
            spec(2, 44100, 32, SampleFormat::Float),
            &[0.5, -0.5, 1.0, 0.5, -0.25, -0.75],
        );
        let audio = read_wav(&bytes).unwrap();
        assert_eq!(audio.sample_rate, 44100);
        assert_eq!(audio.samples, vec![0.0, 0.75, -0.5]);
    }

    #[test]
    fn reads_8_khz_16_bit_stereo() {
        let samples: Vec<i32> = (0..800).flat_map(|i| [i * 10, -i * 10]).collect();
        let audio = read_wav(&wav_int(spec(2, 8000, 16, SampleFormat::Int), &samples)).unwrap();
        assert_eq!(audio.sample_rate, 8000);
        assert_eq!(audio.samples.len(), 800);
        assert!(audio.samples.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn truncated_and_corrupt_files_are_errors() {
        let bytes = wav_int(spec(1, 16000, 16, SampleFormat::Int), &[1, 2, 3, 4, 5, 6]);
        // Cut inside the data chunk: the header promises more samples than there are.
        let cut = read_wav(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(
            matches!(
                cut,
                AudioError::TruncatedWav {
                    declared: 6,
                    present: 4
                }
            ),
            "{cut}"
        );
        assert!(cut.to_string().contains("truncated"), "{cut}");
        // Cut inside the header.
        assert!(matches!(read_wav(&bytes[..20]), Err(AudioError::Wav(_))));
        // Not a RIFF file at all.
        assert!(matches!(
            read_wav(b"this is not a wav file at all......"),
            Err(AudioError::Wav(_))
        ));
        assert!(matches!(read_wav(&[]), Err(AudioError::Wav(_))));
    }

    #[test]
    fn float_files_are_clamped_and_non_finite_samples_named() {
        let loud = wav_float(spec(1, 16000, 32, SampleFormat::Float), &[2.0, -0.5]);
        assert_eq!(read_wav(&loud).unwrap().samples, vec![1.0, -0.5]);
        let nan = wav_float(
            spec(1, 16000, 32, SampleFormat::Float),
            &[0.0, 0.1, f32::NAN],
        );
        assert!(matches!(
            read_wav(&nan),
            Err(AudioError::NonFinite { index: 2, .. })
        ));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_wav_file(Path::new("/nonexistent/x.wav")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.wav"), "{err}");
    }
}
