SELECT m.m.u.e.d.u.e.u.e.s.o.s.s.o.s.s.o.s.s.o.s.s.o.s.s.o.s.s.o.s.s.o.s.s[V.c(V
