mod conformance;
mod corpus;
mod diff;
mod mesh;
