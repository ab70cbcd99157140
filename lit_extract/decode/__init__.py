"""Decode: the frames (and crops) and the sound of each index row, from video files or image folders.

The lowest stage: it knows files and frames, nothing of indexes, encoders or outputs.

- :mod:`~lit_extract.decode.video`: the clip semantics (which frame ids a row samples), the
  OpenCV and PyAV readers that decode each video once, in order, and the decode log.
- :mod:`~lit_extract.decode.opencv_capture`: OpenCV captures without OpenCV's and FFmpeg's own log lines.
- :mod:`~lit_extract.decode.sound`: each row's window of the video's sound track, resampled
  (audio encoders), and the frames' times it is aligned with.
- :mod:`~lit_extract.decode.packets`: one demux pass over a file, shared by the frame decoder and
  the sound.
- :mod:`~lit_extract.decode.image_folder`: videos stored as folders of numbered images.
- :mod:`~lit_extract.decode.yuv`: YUV 4:2:0 planes shipped as decoded, converted on the device.
- :mod:`~lit_extract.decode.buffers`: the batch type and the shared-memory buffers workers reuse.
- :mod:`~lit_extract.decode.lost_frames`: frames that could not be decoded, as ranges per row.
- :mod:`~lit_extract.decode.crops`: one-, five- and ten-crop geometry and crop orders.
- :mod:`~lit_extract.decode.device_transform`: resize and crops of native-size frames on the device.
- :mod:`~lit_extract.decode.reference`: the seed notebook's loader, the reference semantics.
"""
