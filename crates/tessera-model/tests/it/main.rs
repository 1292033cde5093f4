mod conformance;
mod corpus;
mod mesh;
