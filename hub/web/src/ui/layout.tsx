/**
 * The frame of every page: a skip link, the header with the navigation the person's role opens,
 * the language switch and sign-in, then the page, then the footer. Keyboard order follows the
 * reading order; the focus ring is never removed (styles.css).
 */
import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { CITY_TIMEZONE, useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { useSession, type Role } from '../session.js';

interface NavItem {
  href: string;
  label: MessageKey;
  /** Who sees the entry; none: everyone. */
  roles?: Role[];
}

export const NAV: NavItem[] = [
  { href: '/', label: 'nav.home' },
  { href: '/projets', label: 'nav.projects' },
  { href: '/donnees', label: 'nav.openData' },
  { href: '/batiments', label: 'nav.buildings', roles: ['operator', 'technician', 'director', 'elected'] },
  { href: '/donnees-de-service', label: 'nav.serviceData', roles: ['agent', 'operator'] },
  { href: '/gestion/objectifs', label: 'nav.objectivesAdmin', roles: ['operator'] },
  { href: '/gestion/projets', label: 'nav.projectsAdmin', roles: ['operator', 'director'] },
  { href: '/passerelles', label: 'nav.status', roles: ['operator', 'technician'] },
  { href: '/gestion/compteurs', label: 'nav.utility', roles: ['operator'] },
  { href: '/gestion/donnees-ouvertes', label: 'nav.openDataAdmin', roles: ['operator'] },
  { href: '/gestion/flotte', label: 'nav.fleet', roles: ['operator'] },
  { href: '/gestion/comptes', label: 'nav.accounts', roles: ['admin'] },
];

/** Whether the entry `href` is the page at `path` or one under it (`/donnees` is not current on `/donnees-de-service`). */
function isCurrent(href: string, path: string): boolean {
  return path === href || (href !== '/' && path.startsWith(`${href}/`));
}

export function Layout({ children }: { children: ComponentChildren }) {
  const { t, lang, setLang } = useI18n();
  const session = useSession();
  const { path, route } = useLocation();
  const items = NAV.filter((item) => !item.roles || session.can(...item.roles));
  const signOut = async () => {
    await session.signOut();
    route('/');
  };
  return (
    <>
      <a class="skip-link" href="#main">
        {t('app.skip')}
      </a>
      <header class="site-header">
        <div class="brand">
          <a href="/" class="brand-name">
            {t('app.name')}
          </a>
          <span class="brand-tagline">{t('app.tagline')}</span>
        </div>
        <nav aria-label={t('nav.label')} class="no-print">
          <ul>
            {items.map((item) => (
              <li>
                <a href={item.href} aria-current={isCurrent(item.href, path) ? 'page' : undefined}>
                  {t(item.label)}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="header-tools no-print">
          <button
            type="button"
            class="link-button"
            lang={lang === 'fr' ? 'en' : 'fr'}
            aria-label={t('lang.switchToLabel')}
            onClick={() => setLang(lang === 'fr' ? 'en' : 'fr')}
          >
            {t('lang.switchTo')}
          </button>
          {session.user ? (
            <>
              <span class="signed-in">{t('nav.signedInAs', { name: session.user.name, role: t(`role.${session.user.role}` as MessageKey) })}</span>
              <button type="button" class="link-button" onClick={signOut}>
                {t('nav.signOut')}
              </button>
            </>
          ) : (
            <a href={`/connexion?retour=${encodeURIComponent(path)}`}>{t('nav.signIn')}</a>
          )}
        </div>
      </header>
      {children}
      <footer class="site-footer">
        <p>{t('app.footer', { timezone: CITY_TIMEZONE })}</p>
      </footer>
    </>
  );
}
