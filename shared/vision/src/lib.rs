pub mod faces;
