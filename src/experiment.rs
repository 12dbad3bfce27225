//! The CLI main job.
