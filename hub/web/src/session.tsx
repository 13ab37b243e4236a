/**
 * Who is reading: nobody (a citizen) or a person signed in with a local account or through the
 * city's OpenID Connect provider. The hub keeps the session in an HttpOnly cookie; the page only
 * learns the person, their role and sites, and the CSRF token its writes must carry.
 */
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { api, setCsrfToken } from './api.js';

export type Role = 'admin' | 'operator' | 'technician' | 'director' | 'elected' | 'agent';

export interface SessionUser {
  username: string;
  name: string;
  role: Role;
  /** A technician's sites; null for every site. */
  sites: string[] | null;
}

export interface SessionAnswer {
  user: SessionUser | null;
  csrfToken?: string;
  oidc: { enabled: boolean; label: string };
}

export interface Session {
  /** False until the hub has said who this is. */
  known: boolean;
  user: SessionUser | null;
  oidc: { enabled: boolean; label: string };
  signIn(username: string, password: string): Promise<void>;
  signOut(): Promise<void>;
  /** Whether the person has one of `roles` (admin has every role). */
  can(...roles: Role[]): boolean;
}

/** Roles that see every objective, published or not. */
export const STAFF: Role[] = ['operator', 'technician', 'director', 'elected', 'agent'];

const SessionContext = createContext<Session>(undefined as unknown as Session);

export function SessionProvider({ children }: { children: ComponentChildren }) {
  const [state, setState] = useState<{ known: boolean; user: SessionUser | null; oidc: Session['oidc'] }>({
    known: false,
    user: null,
    oidc: { enabled: false, label: '' },
  });
  const take = useCallback((answer: SessionAnswer) => {
    setCsrfToken(answer.csrfToken);
    setState({ known: true, user: answer.user, oidc: answer.oidc ?? { enabled: false, label: '' } });
  }, []);
  useEffect(() => {
    api.get<SessionAnswer>('/api/session').then(take, () => setState((s) => ({ ...s, known: true })));
  }, [take]);
  const session: Session = {
    ...state,
    async signIn(username, password) {
      take(await api.post<SessionAnswer>('/api/session', { username, password }));
    },
    async signOut() {
      await api.delete('/api/session').catch(() => undefined);
      setCsrfToken(undefined);
      setState((s) => ({ ...s, user: null }));
    },
    can: (...roles) => !!state.user && (state.user.role === 'admin' || roles.includes(state.user.role)),
  };
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  return useContext(SessionContext);
}
